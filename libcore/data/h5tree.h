/* h5tree — an HDF5 file as a tree of groups, datasets and attributes, for
 * tools that handle files they did not write field by field: list every
 * object (h5in_walk), describe a dataset's type and an attribute's value as
 * text, compare a dataset across files, and copy attributes, datasets and
 * groups from an input to an output as stored (type, layout, attributes).
 *
 * h5io reads and writes the datasets a contract names (and copies one whole,
 * h5out_copy); h5tree walks the rest.
 * Functions returning int return 0 or a sysexits.h code described through
 * error.h with the file and object named. */
#ifndef EDDP_H5TREE_H
#define EDDP_H5TREE_H

#include "h5io.h"

/* Every dataset and every group below the root (full paths, "/a/b"), depth
 * first in name order; soft and external links are not followed. Appends to
 * the lists (free with h5io_names_free). EX_DATAERR when the file cannot be
 * listed. */
int h5in_walk(h5in *in, h5io_names *datasets, h5io_names *groups);

/* "float32", "int64", "uint8", "string", "enum16", "compound", "other". */
void h5io_type_text(hid_t type, char *buf, size_t size);
/* The type class of dataset name (H5T_NO_CLASS when it cannot be opened);
 * type_buf (may be NULL) receives h5io_type_text of its type. */
H5T_class_t h5in_dataset_class(h5in *in, const char *name, char *type_buf, size_t type_size);
/* Names of the attributes of object, in name order (appended to names). */
int h5in_attr_names(h5in *in, const char *object, h5io_names *names);
/* An attribute's value as a new string (free()): strings joined by ", ",
 * integers and floats (%.10g) by spaces, "(T value)" for other types T,
 * "(unreadable)" when it cannot be opened. NULL only when out of memory. */
char *h5in_attr_text(h5in *in, const char *object, const char *name);

/* 1 when dataset name has the same shape and values in a and b (numbers
 * compared after conversion to int64 or double, strings as text), 0 when
 * not, -1 on failure (read error, or a type that is neither numeric nor
 * string: EX_DATAERR). */
int h5in_same_dataset(h5in *a, h5in *b, const char *name);

/* Copies every attribute of object in `in` onto the same object in `out`
 * as stored (any type, variable-length strings too), replacing any of the
 * same name. */
int h5io_copy_attrs(h5in *in, h5out *out, const char *object);
/* Copies attribute name of the object src onto the object dst (replacing);
 * handles are open objects (H5Oopen). */
int h5io_copy_attr(hid_t src, const char *name, hid_t dst);
/* Creates group name in out when it is missing (with intermediate groups)
 * and copies the attributes of the same group in `in` onto it. */
int h5io_copy_group_attrs(h5in *in, h5out *out, const char *name);

#endif
