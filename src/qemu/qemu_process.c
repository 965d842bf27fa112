/* qemu_process.c: being written (see the header). */
