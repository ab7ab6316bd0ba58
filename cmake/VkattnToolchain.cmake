# What the shader toolchain (VKATTN_GLSLANG, VKATTN_SPIRV_VAL) can compile and validate, probed at
# configure time by compiling one tiny shader per extension (cmake/probes/*.comp), as llama.cpp's
# ggml-vulkan does:
#   VKATTN_TOOLCHAIN_NV_COOPMAT   GL_NV_cooperative_matrix   (the coopmat kernels, shaders/*_cm.comp)
#   VKATTN_TOOLCHAIN_KHR_COOPMAT  GL_KHR_cooperative_matrix
#   VKATTN_TOOLCHAIN_NV_COOPMAT2  GL_NV_cooperative_matrix2
# each ON or OFF, with VKATTN_TOOLCHAIN_<X>_REASON saying why not (the compiler's or the
# validator's first error line). Kernels of an extension the toolchain lacks are not built; the
# library reports the path as "not compiled in: <reason>" (vkattn/kernel_path.hpp, toolchain_info).
# Point VKATTN_GLSLANG / VKATTN_SPIRV_VAL at a Vulkan SDK's tools to use those instead
# (scripts/build.sh passes those of scripts/current_toolchain.sh).
execute_process(COMMAND ${VKATTN_GLSLANG} --version OUTPUT_VARIABLE glslang_version_text ERROR_QUIET)
string(REGEX MATCH "Glslang Version: [0-9]+:([0-9.]+)" _ "${glslang_version_text}")
set(VKATTN_GLSLANG_VERSION "${CMAKE_MATCH_1}")
if(NOT VKATTN_GLSLANG_VERSION)
  set(VKATTN_GLSLANG_VERSION "unknown")
endif()

function(vkattn_probe_extension var probe extension)
  set(spv "${CMAKE_BINARY_DIR}/toolchain_probes/${probe}.spv")
  file(MAKE_DIRECTORY "${CMAKE_BINARY_DIR}/toolchain_probes")
  execute_process(COMMAND ${VKATTN_GLSLANG} --target-env vulkan1.3 -V "${PROJECT_SOURCE_DIR}/cmake/probes/${probe}.comp"
                          -o "${spv}"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  set(reason "")
  if(NOT rc EQUAL 0)
    string(REGEX MATCH "ERROR: [^\n]*" first "${out}${err}")
    set(reason "glslangValidator ${VKATTN_GLSLANG_VERSION} cannot compile ${extension} (${first})")
  else()
    execute_process(COMMAND ${VKATTN_SPIRV_VAL} --target-env vulkan1.3 "${spv}"
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT rc EQUAL 0)
      string(REGEX MATCH "error: [^\n]*" first "${out}${err}")
      set(reason "spirv-val cannot validate ${extension} (${first})")
    endif()
  endif()
  string(REPLACE "\"" "'" reason "${reason}")
  string(REPLACE "${PROJECT_SOURCE_DIR}/" "" reason "${reason}")  # no build paths in the library
  if(reason STREQUAL "")
    set(${var} ON PARENT_SCOPE)
    message(STATUS "vkattn toolchain: ${extension}: yes")
  else()
    set(${var} OFF PARENT_SCOPE)
    message(STATUS "vkattn toolchain: ${extension}: no: ${reason}")
  endif()
  set(${var}_REASON "${reason}" PARENT_SCOPE)
endfunction()

message(STATUS "vkattn toolchain: ${VKATTN_GLSLANG} (glslang ${VKATTN_GLSLANG_VERSION}), ${VKATTN_SPIRV_VAL}")
vkattn_probe_extension(VKATTN_TOOLCHAIN_NV_COOPMAT nv_cooperative_matrix GL_NV_cooperative_matrix)
vkattn_probe_extension(VKATTN_TOOLCHAIN_KHR_COOPMAT khr_cooperative_matrix GL_KHR_cooperative_matrix)
vkattn_probe_extension(VKATTN_TOOLCHAIN_NV_COOPMAT2 nv_cooperative_matrix2 GL_NV_cooperative_matrix2)
