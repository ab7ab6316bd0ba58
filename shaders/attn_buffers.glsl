// attn_buffers.glsl — turns a kernel's binding list into declarations. A kernel includes, in
// order: this file, its list (attn_fwd_bindings.inc, attn_bwd_bindings.inc or
// attn_bwd_pre_bindings.inc), then attn_params_buffer.glsl. Every VKATTN_BUFFER entry becomes
// `layout(set = 0, binding = N) access buffer Block { member; };` and every entry the constant
// BINDING_<name> = N (for other views of the same buffer, e.g. attn_cm_tiles.glsl's 16-byte
// chunks); attn_params_buffer.glsl declares the parameter buffer at BINDING_Params. The engine's
// C++ binding enums are made from the same lists (engine/kernels/attn_bindings.hpp).
#define VKATTN_BUFFER(binding_, Name, Block, access, member) \
  const uint BINDING_##Name = binding_;                      \
  layout(set = 0, binding = binding_) access buffer Block { member; };
#define VKATTN_PARAMS(binding_, Name) const uint BINDING_##Name = binding_;
