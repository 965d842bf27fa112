/* snapshot_conf.c: see snapshot_conf.h (being written). */
