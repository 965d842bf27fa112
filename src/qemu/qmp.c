/* qmp.c: being written (see the header). */
