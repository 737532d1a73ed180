/**
 * Modalities whose images often carry the patient's name or a date in the pixels (ultrasound, fluoroscopy, endoscopy,
 * photographs, screen captures): what de-identification of the attributes cannot take out. Documents (DOC) are not
 * listed, as de-identified shares leave them out. Pure, so the web app warns the sender with the same list the node
 * flags files with.
 */
const TEXT_IN_PIXELS_MODALITIES: ReadonlySet<string> = new Set(['US', 'XA', 'RF', 'ES', 'XC', 'GM', 'OT', 'SC']);

export const mayHaveTextInPixels = (modality: string): boolean => TEXT_IN_PIXELS_MODALITIES.has(modality);
