#!/usr/bin/env python3
"""pycocotools' time for a COCO evaluation, as a whole command, next to ours in `pnpm bench coco`.

Times the same work the bench times for @partialnet/coco: read the ground truth (COCO(gt)), read
the results (loadRes), evaluate, accumulate, summarize; Python's start and imports are left out,
as Node's are on our side. Prints one JSON line: wall and CPU time of each step and in total, the
12 stats. With --check EXPECTED.json it also compares the stats with a fixture's (exit 1 if they
differ): a check that the pycocotools found is the real thing.

pycocotools is not bundled (nothing of cocoapi is copied here). Point --pycocotools at a folder
that holds the `pycocotools` package, e.g. a build of github.com/cocodataset/cocoapi's PythonAPI
(`python3 setup.py build_ext --inplace` in PythonAPI/), or leave it out to use an installed one.

    python3 packages/coco/bench/pycocotools-reference.py --gt gt.json --results results.json \
        --iou-type segm [--pycocotools /tmp/cocoapi/PythonAPI] [--check expected.json]
"""
import argparse
import contextlib
import io
import json
import platform
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--gt', required=True)
    ap.add_argument('--results', required=True)
    ap.add_argument('--iou-type', choices=['bbox', 'segm'], required=True)
    ap.add_argument('--pycocotools', help='folder holding the pycocotools package (default: installed)')
    ap.add_argument('--check', help="a fixture's expected.json whose stats must be reproduced")
    a = ap.parse_args()
    if a.pycocotools:
        sys.path.insert(0, a.pycocotools)
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    import numpy as np
    if 'float' not in np.__dict__:
        np.float = float  # cocoapi 8c9bcc3 uses the alias numpy 1.24 removed (it was the builtin float)

    marks = []
    def mark():
        marks.append((time.perf_counter(), time.process_time()))

    printed = io.StringIO()  # pycocotools prints progress and the summary; keep our stdout one JSON line
    with contextlib.redirect_stdout(printed):
        mark()
        gt = COCO(a.gt)
        mark()
        dt = gt.loadRes(a.results)
        mark()
        E = COCOeval(gt, dt, a.iou_type)
        E.evaluate()
        mark()
        E.accumulate()
        mark()
        E.summarize()
        mark()
    steps = ['load_gt', 'load_results', 'evaluate', 'accumulate', 'summarize']
    out = {
        'reference': 'pycocotools',
        'iou_type': a.iou_type,
        'python': platform.python_version(),
        'numpy': np.__version__,
        'detections': len(dt.anns),
    }
    for i, s in enumerate(steps):
        out[f'{s}_ms'] = round((marks[i + 1][0] - marks[i][0]) * 1000, 1)
    out['total_ms'] = round((marks[-1][0] - marks[0][0]) * 1000, 1)
    out['total_cpu_ms'] = round((marks[-1][1] - marks[0][1]) * 1000)
    out['stats'] = [float(x) for x in E.stats]
    rc = 0
    if a.check:
        with open(a.check) as f:
            want = json.load(f)['stats']
        out['check'] = 'same stats' if out['stats'] == want else 'DIFFERENT stats'
        rc = 0 if out['stats'] == want else 1
    print(json.dumps(out))
    return rc


if __name__ == '__main__':
    sys.exit(main())
