/* subprocess.c: being written (see subprocess.h). */
