/* xl_config.c: see xl_config.h (being written). */
