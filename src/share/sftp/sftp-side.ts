// What a node that serves partner accounts over SFTP loads at start (share/index.ts loadSftp), and no other node.
export { hostKeyFingerprint, SftpServer } from './sftp-server.ts';
export { sftpHostKey } from './host-key.ts';
