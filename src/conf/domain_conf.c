/* domain_conf.c: see domain_conf.h (being written). */
