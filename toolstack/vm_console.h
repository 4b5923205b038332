/*
 * toolstack/vm_console.h - the /console HTTP side handler (serial console of a
 * running VM over the API's HTTP server; see vm_console.c for the protocol).
 * Threads: registration on the main thread; the handler runs on the loop thread.
 */
#ifndef TS_VM_CONSOLE_H
#define TS_VM_CONSOLE_H

/* Registers /console with http.h. 0, or -1 if the path is taken. */
int ts_vm_console_register(void);

#endif
