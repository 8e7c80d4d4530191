/* netfile — the network file (format eddp-net, man/man5/eddp-files.5),
 * written by trainnet(1) and read by its --eval and --features:
 *   /conv<l>/weight float32 [C_out, C_in, 3, 3], /conv<l>/bias float32 [C_out]
 *       (l = 0 .. L−1; attributes stride, padding, kernel)
 *   /head/weight float32 [K, C], /head/bias float32 [K]
 *   /class_names strings [K]
 *   root attributes: input_channels, input_height, input_width, layers,
 *       channels, dropout, pixel_scale (and the training record).
 * The weights are the float32 values the network computes with.
 *
 * Stage: network. Reads and writes eddp-net files. */
#ifndef EDDP_NETFILE_H
#define EDDP_NETFILE_H

#include "h5io.h"
#include "net.h"

#define NETFILE_FORMAT "eddp-net"

/* Writes the architecture and params [arch->n_params] (not the history or
 * provenance: the caller adds those). */
int netfile_write(h5out *out, const net_arch *arch, const float *params, const char *const *class_names);
/* Reads and checks a network: the architecture from the attributes, every
 * dataset's shape against it, finite values; *params [n_params] new buffer,
 * *class_names [n_cls] (h5io_free_strings). */
int netfile_read(h5in *in, net_arch *arch, float **params, char ***class_names);

#endif
