/*
 * settings.h -- lagerbild's configuration: one table of name, environment
 * variable, default and description, read once at start-up.  `lagerbild
 * config` prints it with each value's origin.
 */
#ifndef LAGERBILD_SETTINGS_H
#define LAGERBILD_SETTINGS_H

#include <stdio.h>

#include "err.h"

/* Read every setting from the environment and check it.  0 or -1. */
int settings_load(struct err *e);

/* The value of a setting by name; NULL when unset and without default. */
const char *settings_get(const char *name);

/* Print name, value, origin and description of every setting. */
void settings_print(FILE *out);

#endif
