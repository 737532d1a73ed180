#!/usr/bin/env bash
# Installs the real peers the tests and benchmarks run against (DCMTK; GDCM's tools, whose gdcmconv makes JPEG 2000;
# PixelMed's storage SCU; Orthanc with its DICOMweb and PostgreSQL index plugins; Chromium for the web app; nginx as Orthanc's TLS reverse
# proxy in bench:dicomweb; rsyslog with OpenSSL as the audit repository, xmllint to validate audit messages; unzip to
# open a share's download, pdftotext to read its reports; OpenSSH's client and server; python3-hl7's mllp_send as the
# RIS that sends orders; xmlsec1 as the hospital identity provider that signs XUA assertions; PostgreSQL as the database
# server several nodes share; systemd-analyze to check the service units; Ceph's monitor, OSD and RADOS gateway (with
# curl, which waits for it) as the S3 object storage several nodes share; HAProxy as the one address in front of them)
# and openssl for test certificates.
# Idempotent: does nothing when they are already there.
set -euo pipefail
packages=(dcmtk libgdcm-tools pixelmed-apps orthanc orthanc-dicomweb orthanc-postgresql openssl rsyslog rsyslog-openssl libxml2-utils chromium nginx-light unzip poppler-utils openssh-client openssh-server python3-hl7 xmlsec1 postgresql systemd ceph-mon ceph-osd radosgw curl haproxy)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && { echo "Debian packages present: ${packages[*]}"; exit 0; }
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing Debian packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
