"""Values that stay in device memory between calls: a train step's parameters and optimizer
state.

Each carried input has two device buffers. A step reads one and writes the new value
(its carried output) into the other, and the next step swaps them: no copy on the device,
none to the host. The host sends a value in (`upload`) when its own copy is the newer one,
and takes it back (`download`) only when asked for (gc.train_step's ownership protocol:
a Parameter's `value`, an optimizer's `state`, state_dict, gc.save).
"""
from __future__ import annotations


class Resident:
    def __init__(self, fn, pairs: dict):
        self.fn = fn
        self.pairs = pairs  # input name -> (input buffer name, output buffer name)
        cuda = fn._cuda
        self.buffers = {}
        for name, (b_in, _) in pairs.items():
            buf = fn.program.buffers[b_in]
            n = max(int(buf.numel), 1)
            self.buffers[name] = (cuda.device_array(n, buf.dtype),
                                  cuda.device_array(n, buf.dtype))
        self.parity = 0   # the step reads buffers[name][parity]
        self.frames = {}  # (dims, parity) -> Frame

    @classmethod
    def make(cls, fn, carried: dict):
        p = fn.program
        by_name = {b.name[3:]: b for b in p.inputs}
        pairs = {}
        for name, index in carried.items():
            b_in, out = by_name.get(name), p.buffers[p.outputs[index].buffer]
            if b_in is None or getattr(b_in.numel, "free_symbols", None) or \
                    b_in.dtype != out.dtype or b_in.numel != out.numel:
                return None
            pairs[name] = (b_in.name, out.name)
        return cls(fn, pairs)

    def upload(self, name: str, host) -> None:
        """The host's value of `name` becomes the one the next step reads."""
        self.buffers[name][self.parity].copy_to_device(host.reshape(-1))

    def download(self, name: str, host) -> None:
        """The newest value of `name`, copied into the host array `host` (in place)."""
        self.buffers[name][self.parity].copy_to_host(host.reshape(-1))

    def __call__(self, arrays: dict, dims: dict) -> list:
        """One call: the outputs, None for the carried ones (they stay on the device)."""
        fn, p = self.fn, self.parity
        d = tuple(int(dims[s]) for s in fn._dims)
        frame = self.frames.get((d, p))
        if frame is None:
            overrides = {}
            for name, (b_in, b_out) in self.pairs.items():
                overrides[b_in] = self.buffers[name][p]
                overrides[b_out] = self.buffers[name][1 - p]
            if len(self.frames) >= 16:
                self.frames.clear()
            frame = self.frames[(d, p)] = fn.frame(d, overrides)
        out = fn.call(frame, arrays)
        self.parity = 1 - p
        return out
