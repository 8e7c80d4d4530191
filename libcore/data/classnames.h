/* classnames — a text file of class names, one per line (UTF-8), in the
 * order of the network's outputs: what featdump's --class-names reads.
 * Trailing empty lines are ignored; an empty line between names, a NUL byte
 * or no name at all is refused (EX_DATAERR naming the file and line). */
#ifndef EDDP_CLASSNAMES_H
#define EDDP_CLASSNAMES_H

#include <stddef.h>

/* The names as a new array of n new strings (free with h5io_free_strings);
 * "\n" and "\r\n" line ends alike. EX_NOINPUT when path cannot be opened. */
int classnames_read(const char *path, char ***names, size_t *n);

#endif
