/* store.c: see store.h (being written). */
