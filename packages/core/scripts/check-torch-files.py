"""Checks .pth files written by partialnet-ts (`partialnet convert ... x.pth`) from Python.

With PyTorch installed it runs `torch.load(path, weights_only=True)` and prints every tensor's
dtype and shape. Without PyTorch it checks what it can: the zip CRCs (zipfile.testzip), that the
pickle uses only the opcodes torch's weights-only unpickler accepts, and that it unpickles with
only the allowed globals (stand-ins for the torch functions).

    python3 packages/core/scripts/check-torch-files.py FILE.pth [...]
"""
import io
import pickle
import pickletools
import sys
import zipfile

WEIGHTS_ONLY_OPCODES = set(
    "APPEND APPENDS BINFLOAT BINGET BININT BININT1 BININT2 BINPERSID BINPUT BINUNICODE BUILD "
    "EMPTY_DICT EMPTY_LIST EMPTY_SET EMPTY_TUPLE GLOBAL LONG1 LONG_BINGET LONG_BINPUT MARK NEWFALSE "
    "NEWOBJ NEWTRUE NONE PROTO REDUCE SETITEM SETITEMS SHORT_BINSTRING STOP TUPLE TUPLE1 TUPLE2 TUPLE3".split()
)
ALLOWED = {"collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_parameter", "torch.device"}


class StandIn:
    def __init__(self, name):
        self.name = name

    def __call__(self, *args):
        return (self.name,) + args


class Checker(pickle.Unpickler):
    def __init__(self, data, archive, prefix):
        super().__init__(io.BytesIO(data))
        self.archive, self.prefix = archive, prefix

    def find_class(self, module, name):
        full = f"{module}.{name}"
        if full not in ALLOWED and not (module == "torch" and name.endswith("Storage")):
            raise pickle.UnpicklingError(f"global {full} is not allowed")
        if full == "collections.OrderedDict":
            import collections

            return collections.OrderedDict
        return StandIn(full)

    def persistent_load(self, pid):
        kind, storage_type, key, location, numel = pid
        data = self.archive.read(f"{self.prefix}data/{key}")
        return (storage_type.name, key, len(data), numel)


def check(path):
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        obj = torch.load(path, weights_only=True)
        sd = obj.get("state_dict", obj) if isinstance(obj, dict) else obj
        for k, v in sd.items():
            if hasattr(v, "dtype"):
                print(f"  {k}: {v.dtype} {tuple(v.shape)}")
        print(f"{path}: torch.load(weights_only=True) ok ({torch.__version__})")
        return
    archive = zipfile.ZipFile(path)
    bad = archive.testzip()
    assert bad is None, f"CRC error in {bad}"
    pkl = next(n for n in archive.namelist() if n.endswith("/data.pkl"))
    data = archive.read(pkl)
    ops = {op.name for op, _, _ in pickletools.genops(data)}
    assert ops <= WEIGHTS_ONLY_OPCODES, f"opcodes outside the weights-only set: {ops - WEIGHTS_ONLY_OPCODES}"
    Checker(data, archive, pkl[: -len("data.pkl")]).load()
    print(f"{path}: zip, opcodes and globals ok (PyTorch not installed: structural check only)")


for p in sys.argv[1:]:
    check(p)
