/* qmp_parse.c: being written (see the header). */
