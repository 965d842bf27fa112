/*
 * fault.h: named points where tests stop the process (issue 6's fault
 * injection; docs/testing.md, "Faults").
 *
 *   VMSNAP_FAULT=NAME          the process kills itself (SIGKILL, as
 *                              `kill -9` would) the first time it reaches
 *                              point NAME
 *   VMSNAP_FAULT_TRACE=FILE    every point reached is appended to FILE, one
 *                              name per line: how a test learns the points
 *                              an operation passes
 *
 * Without either variable a point costs two getenv() calls.
 */
#ifndef VMS_UTIL_FAULT_H
#define VMS_UTIL_FAULT_H

void vms_fault_point(const char *name);

#endif
