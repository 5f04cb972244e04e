/**
 * Names every platform accepts: DNS-1035 labels (lowercase letters, digits and '-', starting with
 * a letter, ending with a letter or digit, at most 63 characters), as Kubernetes, Knative, Nuclio
 * and Docker need them. Function ids, revision names and traffic tags are such labels.
 */
export const DNS_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** The longest DNS-1035 label. */
export const DNS_LABEL_MAX_LENGTH = 63;

/** Whether `name` is a DNS-1035 label. */
export function isDnsLabel(name: string): boolean {
  return name.length <= DNS_LABEL_MAX_LENGTH && DNS_LABEL.test(name);
}
