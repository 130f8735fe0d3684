/*
 * detect_cli: `vigia detect [--model NAME] [--backend B] [options] IMAGE...`
 *
 * One-shot detection without a server: loads the model in worker
 * processes (the same pool the server uses, so a crashing plugin costs an
 * error line, not the command), runs every image and prints one JSON line
 * per image on stdout, in argument order:
 *
 *   {"image":"dog.jpg","model":"yolo-fastest-1.1-xl","backend":"darknet",
 *    "width":768,"height":576,"detections":[{"label":"dog","class_id":16,
 *    "confidence":0.9355,"x_min":112,"y_min":162,"x_max":417,"y_max":540},...],
 *    "timings_us":{"queue":..,"decode":..,"infer":..,"post":..,"total":..}}
 *   {"image":"x.jpg","error":{"code":"undecodable_image","status":422,"message":"..."}}
 *
 * Options (besides the config keys vg_config understands, e.g. --models DIR):
 *   --model NAME        model (default: yolo-fastest-1.1-xl, else the first found)
 *   --backend B         auto | cpu | darknet | cuda | /path/plugin.so
 *   --threshold T       min confidence in (0, 1] (default: the manifest's)
 *   --nms N             NMS IoU in [0, 1] (default: the manifest's)
 *   --classes a,b,...   keep only these labels
 *   --annotate DIR      also write DIR/<image name>.annotated.jpg
 *   --jobs N            worker processes (default: the config's workers, at most one per image)
 *   --timeout S         per-image deadline in seconds (default 60)
 * IMAGE "-" reads standard input. Exit status: 0 all images detected,
 * 1 some failed, 2 usage, model or configuration error.
 *
 * `vigia classify` is the same for classifiers: each line is what
 * /v1/classify answers ("task":"classify", "classifications" best first),
 * --k N (1..10, default 5) of them; a detector is refused (exit 2), as a
 * classifier is by `vigia detect`; --nms, --annotate and --head are not
 * its options; a model must be named (--model or --model-file).
 */
#ifndef VG_DETECT_CLI_H
#define VG_DETECT_CLI_H

#include "base/config.h"

/*
 * For main()'s subcommand dispatch once the config is loaded: `argv` holds
 * the arguments vg_config_load() left over (options and images, no program
 * or subcommand name). `cfg` supplies models_dir, backends_dir, workers and
 * the log level.
 */
int vg_detect_cli_run(const vg_config *cfg, int argc, char **argv);
int vg_classify_cli_run(const vg_config *cfg, int argc, char **argv);

#endif
