/* SPDX-License-Identifier: Apache-2.0 */
/* embedded.h - files compiled into the binary (schema/, later the UI). */
#ifndef KN_EMBEDDED_H
#define KN_EMBEDDED_H

#include <stddef.h>

typedef struct kn_embedded_file {
	const char *path; /* as in the source tree: "schema/incident.json" */
	const char *data; /* NUL-terminated */
	size_t len;
} kn_embedded_file;

/* Terminated by an entry with path NULL. */
extern const kn_embedded_file kn_embedded_files[];

#endif
