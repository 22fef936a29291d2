"""Explicit 8-lane float32 vectors for the kernels' inner loops (`f32x8`).

LLVM's auto-vectoriser only vectorises innermost loops, so an output row accumulated over
a whole convolution goes through memory once per input channel and tap. With a vector
type of our own, a tile of output rows x 16 frames stays in registers over the whole
reduction, and the activation runs on it before it is stored once. Eight lanes: one AVX
register on x86, two NEON registers on the Pi; LLVM lowers the same IR to either.

Arithmetic on f32x8 carries the "contract" flag only (as the kernels' fastmath): a*b + c
may fuse to one FMA, NaN and Inf propagate as IEEE says.
"""
import operator

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic, models, overload, register_model

LANES = 8


class F32x8(types.Type):
    def __init__(self):
        super().__init__(name="f32x8")


f32x8 = F32x8()
_VEC = ir.VectorType(ir.FloatType(), LANES)
_FLAGS = ("contract",)


@register_model(F32x8)
class _F32x8Model(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _VEC)


def _address(context, builder, aryty, ary, indices, idxtys):
    array = context.make_array(aryty)(context, builder, ary)
    idx = [context.cast(builder, i, t, types.intp) for i, t in zip(indices, idxtys)]
    ptr = cgutils.get_item_pointer2(context, builder, array.data, cgutils.unpack_tuple(builder, array.shape),
                                    cgutils.unpack_tuple(builder, array.strides), aryty.layout, idx,
                                    wraparound=False, boundscheck=False)
    return builder.bitcast(ptr, _VEC.as_pointer())


@intrinsic
def load(typingctx, ary, i, j):
    """The 8 floats ary[i, j:j+8] (2-D float32 array, unit stride along j; unchecked)."""
    sig = f32x8(ary, i, j)

    def codegen(context, builder, signature, args):
        p = _address(context, builder, ary, args[0], args[1:], (i, j))
        return builder.load(p, align=4)
    return sig, codegen


@intrinsic
def store(typingctx, ary, i, j, v):
    """ary[i, j:j+8] = v (unchecked)."""
    sig = types.none(ary, i, j, v)

    def codegen(context, builder, signature, args):
        p = _address(context, builder, ary, args[0], args[1:3], (i, j))
        builder.store(args[3], p, align=4)
        return context.get_dummy_value()
    return sig, codegen


@intrinsic
def load1(typingctx, ary, i):
    """The 8 floats ary[i:i+8] of a 1-D float32 array (unchecked)."""
    sig = f32x8(ary, i)

    def codegen(context, builder, signature, args):
        p = _address(context, builder, ary, args[0], args[1:], (i,))
        return builder.load(p, align=4)
    return sig, codegen


@intrinsic
def store1(typingctx, ary, i, v):
    """ary[i:i+8] = v for a 1-D float32 array (unchecked)."""
    sig = types.none(ary, i, v)

    def codegen(context, builder, signature, args):
        p = _address(context, builder, ary, args[0], args[1:2], (i,))
        builder.store(args[2], p, align=4)
        return context.get_dummy_value()
    return sig, codegen


@intrinsic
def splat(typingctx, x):
    """All 8 lanes = x (a float)."""
    sig = f32x8(x)

    def codegen(context, builder, signature, args):
        v = context.cast(builder, args[0], x, types.float32)
        undef = ir.Constant(_VEC, ir.Undefined)
        v0 = builder.insert_element(undef, v, ir.Constant(ir.IntType(32), 0))
        return builder.shuffle_vector(v0, undef, ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES))
    return sig, codegen


def _binary(op):
    @intrinsic
    def impl(typingctx, a, b):
        if a is not f32x8 or b is not f32x8:
            return None
        sig = f32x8(a, b)

        def codegen(context, builder, signature, args):
            return getattr(builder, op)(args[0], args[1], flags=_FLAGS)
        return sig, codegen
    return impl


vadd = _binary("fadd")
vsub = _binary("fsub")
vmul = _binary("fmul")
vdiv = _binary("fdiv")


def _compare_select(pred, pick_first):
    """Lane-wise: (a pred b) ? a : b when pick_first else (a pred b) ? b : a."""
    @intrinsic
    def impl(typingctx, a, b):
        if a is not f32x8 or b is not f32x8:
            return None
        sig = f32x8(a, b)

        def codegen(context, builder, signature, args):
            c = builder.fcmp_ordered(pred, args[0], args[1])
            return builder.select(c, args[0], args[1]) if pick_first else builder.select(c, args[1], args[0])
        return sig, codegen
    return impl


# NaN in `a` passes through vmin/vmax (an unordered compare is false, so `a` is picked):
# a clamp must not turn a model's NaN into a number the pedal would play.
vmin = _compare_select(">", False)     # a > b ? b : a
vmax = _compare_select("<", False)     # a < b ? b : a


@intrinsic
def where_positive(typingctx, a, b):
    """Lane-wise a > 0 ? a : b (leaky ReLU's select)."""
    if a is not f32x8 or b is not f32x8:
        return None
    sig = f32x8(a, b)

    def codegen(context, builder, signature, args):
        zero = ir.Constant(_VEC, [0.0] * LANES)
        return builder.select(builder.fcmp_ordered(">", args[0], zero), args[0], args[1])
    return sig, codegen


@intrinsic
def hsum(typingctx, a):
    """The sum of the 8 lanes (as a float32)."""
    if a is not f32x8:
        return None
    sig = types.float32(a)

    def codegen(context, builder, signature, args):
        v = args[0]
        width = LANES
        while width > 1:
            width //= 2
            lo = builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(ir.IntType(32), width), list(range(width))))
            hi = builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(ir.IntType(32), width),
                                                          list(range(width, 2 * width))))
            v = builder.fadd(lo, hi, flags=_FLAGS)
        return builder.extract_element(v, ir.Constant(ir.IntType(32), 0))
    return sig, codegen


for _op, _fn in ((operator.add, vadd), (operator.sub, vsub), (operator.mul, vmul), (operator.truediv, vdiv)):
    def _make(fn):
        def ol(a, b):
            if a is f32x8 and b is f32x8:
                return lambda a, b: fn(a, b)
        return ol
    overload(_op)(_make(_fn))


@intrinsic
def bcast(typingctx, ary, i):
    """All 8 lanes = ary[i] of a 1-D float32 array (one broadcast load; unchecked, no
    negative-index wrap: a plain W[i] costs three integer instructions more per weight)."""
    sig = f32x8(ary, i)

    def codegen(context, builder, signature, args):
        array = context.make_array(ary)(context, builder, args[0])
        idx = context.cast(builder, args[1], i, types.intp)
        ptr = builder.gep(array.data, [idx], inbounds=True)
        v = builder.load(ptr, align=4)
        undef = ir.Constant(_VEC, ir.Undefined)
        v0 = builder.insert_element(undef, v, ir.Constant(ir.IntType(32), 0))
        return builder.shuffle_vector(v0, undef, ir.Constant(ir.VectorType(ir.IntType(32), LANES), [0] * LANES))
    return sig, codegen
