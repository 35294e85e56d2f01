#!/usr/bin/env python3
"""PyTorch reference figures for `partialnet bench --reference`, measured on the machine at hand.

Runs the official PyTorch PartialNet (a checkout of github.com/haiduo/PartialNet, passed with
--official; nothing of it is copied here) and torchvision's RetinaNet / Mask R-CNN heads on the
same workloads as `partialnet bench backbone --train` and `partialnet bench detection`, and writes
the figures as a reference file (the format of pytorch-1.13-1thread.json). With --onnx-out it also
exports the official T0 with torch.onnx.export (opset 17, dynamic batch), the model
`bench backbone --runtime onnx --onnx-reference FILE` times next to ours in ONNX Runtime.

Needs: python3 with torch and torchvision (Debian bookworm: apt-get install python3-torch
python3-torchvision python3-easydict libopenblas0-pthread; that is PyTorch 1.13.1, and without
OpenBLAS Debian's torch falls back to the reference BLAS for most convolutions, ~6x slower), and
the official checkout at commit 679cfc0. timm is not needed: the three names the official model imports from it are provided here.

    python3 apps/cli/reference/pytorch_reference.py --official PATH/PartialNet --threads 1 \
        --fixture ../shared/fixtures/partialnet/t0-224x224 --out ref-1thread.json --onnx-out t0-official.onnx
"""
import argparse
import collections
import json
import math
import os
import platform
import statistics
import sys
import time
import types


def install_timm_stand_in():
    """The official model imports DropPath, trunc_normal_ and LayerNorm2d from timm; these are
    written from their definitions (stochastic depth per sample; truncated normal init; LayerNorm
    over the channels of an NCHW map)."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class DropPath(nn.Module):
        def __init__(self, drop_prob=0.0):
            super().__init__()
            self.drop_prob = drop_prob

        def forward(self, x):
            if self.drop_prob == 0.0 or not self.training:
                return x
            keep = 1.0 - self.drop_prob
            mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
            return x * mask / keep

    class LayerNorm2d(nn.LayerNorm):
        def forward(self, x):
            x = x.permute(0, 2, 3, 1)
            x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
            return x.permute(0, 3, 1, 2)

    def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
        return nn.init.trunc_normal_(tensor, mean, std, a, b)

    timm = types.ModuleType('timm')
    layers = types.ModuleType('timm.layers')
    models = types.ModuleType('timm.models')
    models_layers = types.ModuleType('timm.models.layers')
    for m in (layers, models_layers):
        m.DropPath, m.trunc_normal_, m.LayerNorm2d = DropPath, trunc_normal_, LayerNorm2d
    timm.layers, timm.models, models.layers = layers, models, models_layers
    sys.modules.update({'timm': timm, 'timm.layers': layers, 'timm.models': models, 'timm.models.layers': models_layers})


def read_safetensors(path):
    import numpy as np
    import torch
    with open(path, 'rb') as f:
        n = int.from_bytes(f.read(8), 'little')
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        if info['dtype'] != 'F32':
            raise SystemExit(f'{path}: {name}: dtype {info["dtype"]}, expected F32')
        a, b = info['data_offsets']
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype='<f4').copy().reshape(info['shape']))
    return out


Schedule = collections.namedtuple('Schedule', 'warmup iters warmup_seconds min_seconds')


def timed(fn, schedule):
    """Median ms of fn: untimed runs (at least schedule.warmup, for at least warmup_seconds), then
    timed runs (at least schedule.iters, for at least min_seconds), as partialnet's bench does."""
    start = time.perf_counter()
    done = 0
    while done < schedule.warmup or time.perf_counter() - start < schedule.warmup_seconds:
        fn()
        done += 1
    times = []
    start = time.perf_counter()
    while len(times) < schedule.iters or time.perf_counter() - start < schedule.min_seconds:
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return round(statistics.median(times), 2)


T0_KWARGS = dict(mlp_ratio=2, embed_dim=32, depths=[1, 2, 8, 2], n_div=4, feature_dim=1280, patch_size=4, patch_stride=4,
                 patch_size2=2, patch_stride2=2, layer_scale_init_value=0, drop_path_rate=0.0, norm_layer='BN',
                 act_layer='GELU', pre_epoch=0, use_channel_attn=True, use_spatial_attn=False, patnet_t0=True,
                 pconv_fw_type='split_cat', auto_div=False, u_regular=True, l_gate=True, index_div=False)


def official_partialnet(official, **extra):
    if 'models' not in sys.modules:
        # the checkout's models/__init__.py imports every model of the repo (and timm's registry):
        # a bare package keeps the import to partialnet.py and the two files it needs
        package = types.ModuleType('models')
        package.__path__ = [os.path.join(official, 'models')]
        sys.modules['models'] = package
    from models.partialnet import PartialNet  # the official model, from the checkout
    return PartialNet(**T0_KWARGS, **extra)


def check_fixture(model, fixture):
    import numpy as np
    import torch
    meta = json.load(open(os.path.join(fixture, 'meta.json')))
    state = read_safetensors(os.path.join(fixture, 'weights.safetensors'))
    missing, unexpected = model.load_state_dict({k: v for k, v in state.items() if not k.startswith('norm')}, strict=False)
    missing = [k for k in missing if not k.endswith('num_batches_tracked')]
    if missing:
        raise SystemExit(f'{fixture}: weights miss {missing[:5]}')
    h, w = meta['input_hw']
    x = torch.from_numpy(np.fromfile(os.path.join(fixture, 'input.bin'), dtype='<f4').reshape(meta['batch'], 3, h, w))
    want = np.fromfile(os.path.join(fixture, 'output.bin'), dtype='<f4')
    model.eval()
    with torch.no_grad():
        got = model(x).numpy().reshape(-1)
    err = float(np.abs(got - want).max() / max(1e-12, np.abs(want).max()))
    if err > 1e-4:
        raise SystemExit(f'{fixture}: the official model gives logits {err:.2e} (relative) away from output.bin; wrong checkout?')
    return err


def bench_backbone(official, fixture, schedule, onnx_out):
    import torch
    import torch.nn.functional as F
    model = official_partialnet(official, num_classes=1000)
    fixture_err = check_fixture(model, fixture) if fixture else None
    model.eval()
    figures = {}
    with torch.no_grad():
        for batch in (1, 16):
            x = torch.randn(batch, 3, 224, 224)
            ms = timed(lambda: model(x), schedule)
            figures[f'infer@{batch}'] = ms
            figures[f'infer-fused@{batch}'] = ms  # PyTorch eval runs the unfused model: one figure for both
    if onnx_out:
        torch.onnx.export(model, torch.randn(1, 3, 224, 224), onnx_out, opset_version=17, input_names=['input'],
                          output_names=['logits'], dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}},
                          do_constant_folding=True)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    x = torch.randn(16, 3, 224, 224)
    y = torch.randint(0, 1000, (16,))

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    figures['train@16'] = timed(step, schedule)
    return figures, fixture_err


def detector(official, kind, num_classes):
    from collections import OrderedDict
    import torch.nn as nn
    from torchvision.models.detection import MaskRCNN, RetinaNet
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.ops.feature_pyramid_network import FeaturePyramidNetwork, LastLevelMaxPool, LastLevelP6P7

    body = official_partialnet(official, fork_feat=True)
    chans = [32, 64, 128, 256]

    class BackboneFPN(nn.Module):
        def __init__(self, levels, extra):
            super().__init__()
            self.body, self.levels = body, levels
            self.fpn = FeaturePyramidNetwork([chans[i] for i in levels], 256, extra_blocks=extra)
            self.out_channels = 256

        def forward(self, x):
            feats = self.body(x)
            return self.fpn(OrderedDict((str(i), feats[i]) for i in self.levels))

    common = dict(min_size=512, max_size=512, box_score_thresh=0.0, box_detections_per_img=100) if kind == 'mask-rcnn' else \
        dict(min_size=512, max_size=512, score_thresh=0.0, detections_per_img=100)
    if kind == 'retinanet':
        # P3-P7 from C3-C5, 9 anchors per place (3 octave scales x 3 ratios), as mmdet's RetinaNet
        sizes = tuple((s, int(s * 2 ** (1 / 3)), int(s * 2 ** (2 / 3))) for s in (32, 64, 128, 256, 512))
        anchors = AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * 5)
        return RetinaNet(BackboneFPN([1, 2, 3], LastLevelP6P7(256, 256)), num_classes, anchor_generator=anchors, **common)
    return MaskRCNN(BackboneFPN([0, 1, 2, 3], LastLevelMaxPool()), num_classes + 1, **common)


def synthetic_targets(batch, size, num_classes):
    import torch
    targets = []
    for b in range(batch):
        rects = [[0.1, 0.1, 0.45, 0.5], [0.5, 0.2, 0.9, 0.85], [0.3, 0.6, 0.42, 0.72]]
        boxes = torch.tensor([[round(v * size) for v in r] for r in rects], dtype=torch.float32)
        masks = torch.zeros(3, size, size, dtype=torch.uint8)
        for i, (x1, y1, x2, y2) in enumerate(boxes.int().tolist()):
            masks[i, y1:y2, x1:x2] = 1
        labels = torch.tensor([(b * 3 + i) % num_classes + 1 for i in range(3)])
        targets.append({'boxes': boxes, 'labels': labels, 'masks': masks})
    return targets


def bench_detection(official, schedule, size=512, batch=2, num_classes=80):
    import torch
    figures = {}
    for preset, kind in (('retinanet-t0', 'retinanet'), ('mask-rcnn-t0', 'mask-rcnn')):
        torch.manual_seed(0)
        model = detector(official, kind, num_classes)
        images = [torch.randn(3, size, size) for _ in range(batch)]
        targets = synthetic_targets(batch, size, num_classes)
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-4)

        def step():
            opt.zero_grad(set_to_none=True)
            sum(model(images, targets).values()).backward()
            opt.step()

        figures[f'{preset}/train'] = timed(step, schedule)
        model.eval()
        with torch.no_grad():
            figures[f'{preset}/infer'] = timed(lambda: model(images), schedule)
            # the dense part alone, as `partialnet export onnx` exports it: backbone, FPN and the raw
            # outputs of the dense heads (RetinaNet's head; Mask R-CNN's RPN head)
            batched = model.transform(images)[0].tensors
            heads = model.head if kind == 'retinanet' else model.rpn.head
            figures[f'{preset}/dense'] = timed(lambda: heads(list(model.backbone(batched).values())), schedule)
    return figures


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--official', required=True, help='checkout of github.com/haiduo/PartialNet (commit 679cfc0)')
    p.add_argument('--fixture', help='t0-224x224 fixture folder: check the official model reproduces its logits first')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--iters', type=int, default=5)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--warmup-seconds', type=float, default=5, help='untimed runs go on until this many seconds have passed')
    p.add_argument('--min-seconds', type=float, default=2, help='timed runs go on until this many seconds have passed')
    p.add_argument('--skip-detection', action='store_true')
    p.add_argument('--onnx-out', help='also export the official T0 classifier here (torch.onnx.export, opset 17)')
    p.add_argument('--out', required=True, help='reference JSON to write')
    a = p.parse_args()
    if not os.path.isfile(os.path.join(a.official, 'models', 'partialnet.py')):
        raise SystemExit(f'--official: {a.official} has no models/partialnet.py; pass a checkout of haiduo/PartialNet')
    # Debian's torch calls whatever libblas.so.3 the system selects; OpenBLAS there keeps its own
    # thread pool, which torch.set_num_threads does not reach: cap every pool before torch loads
    for var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
        os.environ[var] = str(a.threads)
    schedule = Schedule(a.warmup, a.iters, a.warmup_seconds, a.min_seconds)
    install_timm_stand_in()
    import torch
    import torchvision
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    backbone, fixture_err = bench_backbone(a.official, a.fixture, schedule, a.onnx_out)
    out = {
        'source': f'PyTorch {torch.__version__} / torchvision {torchvision.__version__} CPU, {a.threads} thread(s), '
                  f'official PartialNet-T0 (haiduo/PartialNet) / torchvision heads, {platform.processor() or platform.machine()}, '
                  f'{os.cpu_count()} cores, measured by apps/cli/reference/pytorch_reference.py',
        'threads': a.threads,
        'measured': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
        'backbone': {'size': 224, 'msPerIter': backbone},
    }
    if fixture_err is not None:
        out['fixtureRelativeError'] = fixture_err
    if not a.skip_detection:
        out['detection'] = {'size': 512, 'batch': 2, 'msPerIter': bench_detection(a.official, schedule)}
    tmp = f'{a.out}.tmp-{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(out, f, indent=2)
        f.write('\n')
    os.replace(tmp, a.out)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
