/* qemu_img.c: being written (see the header). */
