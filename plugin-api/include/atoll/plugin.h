/*
 * atoll/plugin.h - the versioned plugin ABI (placeholder for the plugin issue).
 * Every plugin exports `const struct atoll_plugin atoll_plugin_v1`.
 * Bump MAJOR for incompatible changes; MINOR only when members are appended.
 */
#ifndef ATOLL_PLUGIN_H
#define ATOLL_PLUGIN_H

#include <stdint.h>

#define ATOLL_PLUGIN_ABI_MAJOR 1
#define ATOLL_PLUGIN_ABI_MINOR 0

#endif
