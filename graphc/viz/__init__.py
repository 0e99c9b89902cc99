"""Drawing graphs: `to_dot` (Graphviz DOT text) and `render` (a picture file), each loaded when
first asked for: the compiler needs only `names` (what a drawing calls a gradient), and loading
the drawing code with it took 5 ms of every first compile."""
from ..lazy import lazy_attributes

__getattr__, __dir__ = lazy_attributes(globals(), {"to_dot": ("graphc.viz.dot", "to_dot"),
                                                   "render": ("graphc.viz.pictures", "render")})
