/*
 * check_cli: the part of "vigia --check-config" that reports where things
 * are. After the settings, it prints (as INI comments, so the output still
 * reads back as a config file) whether this vigia runs from a build tree or
 * installed, and every path it resolved -- config file, data, models, web,
 * backends and each first-party plugin, the default model's files, the
 * fetch-models script, and the files named by settings -- each with whether
 * it exists.
 */
#ifndef VG_CHECK_CLI_H
#define VG_CHECK_CLI_H

#include <stdio.h>

#include "base/config.h"

/* Writes the report to out. Returns how many required paths are missing (0: all there). */
int vg_check_cli_paths(const vg_config *cfg, FILE *out);
/*
 * Whether the default model can serve: 0, or -1 with why (the models folder
 * or the model is missing, or its manifest is invalid: file, line, key) and
 * what to do. --check-config fails on it.
 */
int vg_check_cli_default_model(const vg_config *cfg, char *why, size_t whylen);

#endif
