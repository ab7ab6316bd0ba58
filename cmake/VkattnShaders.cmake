# vkattn_compile_shader(<out_header_var> SOURCE <file.comp> NAME <symbol> [DEFINES ...])
#
# Compiles one compute shader to SPIR-V with glslangValidator (Vulkan 1.3), writing a depfile
# so that editing an included .glsl/.inc rebuilds exactly the shaders that include it, checks the
# binary with spirv-val, and emits a C++ header holding the words as `const uint32_t <symbol>[]`.
# Everything lands in the build tree. The header's path is appended to <out_header_var>.
function(vkattn_compile_shader out_var)
  cmake_parse_arguments(ARG "" "SOURCE;NAME" "DEFINES" ${ARGN})
  get_filename_component(src "${ARG_SOURCE}" ABSOLUTE)
  set(out_dir "${CMAKE_CURRENT_BINARY_DIR}")
  set(spv "${out_dir}/${ARG_NAME}.spv")
  set(hdr "${out_dir}/${ARG_NAME}.spv.h")
  set(dep "${out_dir}/${ARG_NAME}.spv.d")
  set(defs "")
  foreach(d IN LISTS ARG_DEFINES)
    list(APPEND defs "-D${d}")
  endforeach()
  set(common --target-env vulkan1.3 -I${CMAKE_CURRENT_SOURCE_DIR} ${defs})
  add_custom_command(
    OUTPUT "${spv}" "${hdr}"  # the depfile names ${spv}: it must be the first output
    COMMAND ${VKATTN_GLSLANG} ${common} --depfile "${dep}" -o "${spv}" "${src}"
    COMMAND ${VKATTN_SPIRV_VAL} --target-env vulkan1.3 "${spv}"
    COMMAND ${VKATTN_GLSLANG} ${common} --vn ${ARG_NAME} -o "${hdr}" "${src}"
    DEPENDS "${src}"
    DEPFILE "${dep}"
    COMMENT "glslang + spirv-val: ${ARG_NAME}"
    VERBATIM)
  set(${out_var} ${${out_var}} "${hdr}" PARENT_SCOPE)
endfunction()
