"""Weights from PyTorch: a torch.nn.Transformer's parameters under our names.

    state = transformer_state_from_torch(torch_model)      # a torch.nn.Transformer
    ours.load_state_dict(state, strict=False)              # our embeddings/output stay

Our layers keep torch's structure and names (linear1/linear2/norm1..), so
porting is renaming, except attention: torch keeps q, k and v as one
in_proj_weight (3d, d), which we split into q_proj, k_proj and v_proj.

    torch                                       ours
    {enc,dec}oder.layers.i.self_attn.in_proj_*  ...self_attn.{q,k,v}_proj.*  (split in 3)
    decoder.layers.i.multihead_attn.*           decoder.layers.i.cross_attn.*
    *.layers.i.linear1 / linear2                *.layers.i.feed_forward.linear1 / linear2
    *.layers.i.norm1/2/3, encoder.norm, decoder.norm: the same names.

Torch is not imported here: the functions only read the given modules' tensors.
"""

__all__ = ["attention_state_from_torch", "transformer_state_from_torch"]


def _array(tensor):
    return tensor.detach().cpu().numpy()


def attention_state_from_torch(torch_attention, prefix=""):
    """nn.MultiheadAttention's six tensors as our eight: {prefix}{q,k,v,out}_proj.{weight,bias}."""
    d = torch_attention.embed_dim
    if torch_attention.in_proj_weight is None or torch_attention.in_proj_bias is None:
        raise ValueError("attention_state_from_torch: needs an nn.MultiheadAttention with one "
                         "in_proj_weight and biases (kdim == vdim == embed_dim, bias=True)")
    weight, bias = _array(torch_attention.in_proj_weight), _array(torch_attention.in_proj_bias)
    state = {}
    for i, name in enumerate(("q_proj", "k_proj", "v_proj")):
        state[f"{prefix}{name}.weight"] = weight[i * d:(i + 1) * d]
        state[f"{prefix}{name}.bias"] = bias[i * d:(i + 1) * d]
    state[f"{prefix}out_proj.weight"] = _array(torch_attention.out_proj.weight)
    state[f"{prefix}out_proj.bias"] = _array(torch_attention.out_proj.bias)
    return state


def transformer_state_from_torch(torch_transformer):
    """Every parameter of a torch.nn.Transformer (batch_first or not) as our Transformer's
    encoder.* and decoder.* state; a torch tensor this does not place is a ValueError."""
    state, placed = {}, 0
    for stack_name, attentions in (("encoder", ("self_attn",)),
                                   ("decoder", ("self_attn", "multihead_attn"))):
        stack = getattr(torch_transformer, stack_name)
        for i, layer in enumerate(stack.layers):
            prefix = f"{stack_name}.layers.{i}."
            for attention in attentions:
                ours = "cross_attn" if attention == "multihead_attn" else attention
                state.update(attention_state_from_torch(getattr(layer, attention),
                                                        f"{prefix}{ours}."))
                placed += 4
            for module_name in ("linear1", "linear2", "norm1", "norm2", "norm3"):
                module = getattr(layer, module_name, None)
                if module is None:
                    continue
                where = f"feed_forward.{module_name}" if module_name.startswith("linear") \
                    else module_name
                for name, p in module.named_parameters():
                    state[f"{prefix}{where}.{name}"] = _array(p)
                    placed += 1
        if stack.norm is None:
            raise ValueError(f"transformer_state_from_torch: torch's {stack_name} has no final "
                             "norm; ours always has one")
        for name, p in stack.norm.named_parameters():
            state[f"{stack_name}.norm.{name}"] = _array(p)
            placed += 1
    total = sum(1 for _ in torch_transformer.parameters())
    if placed != total:
        raise ValueError(f"transformer_state_from_torch: placed {placed} of torch's {total} "
                         "tensors (a layer with parts ours does not have?)")
    return state
