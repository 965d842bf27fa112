/* qemu_snapshot.c: being written (see the header). */
