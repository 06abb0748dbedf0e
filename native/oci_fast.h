/* pyrun-oci's start, kill and delete in C, for their plain cases (oci_fast.c). */
#ifndef PYRUN_OCI_FAST_H
#define PYRUN_OCI_FAST_H

#define NOT_HANDLED (-1)

/* The exit code of the command argv names, or NOT_HANDLED (nothing done: run Python). */
int oci_fast(int argc, char **argv);

#endif
