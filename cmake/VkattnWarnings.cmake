# vkattn_warnings: one interface target every vkattn target links, so flags live in one place.
add_library(vkattn_warnings INTERFACE)
target_compile_options(vkattn_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow -Wnon-virtual-dtor
  # Vulkan structs are written {VK_STRUCTURE_TYPE_...}: the rest is zero-initialized by rule.
  -Wno-missing-field-initializers)

if(VKATTN_SANITIZE)
  target_compile_options(vkattn_warnings INTERFACE -fsanitize=${VKATTN_SANITIZE} -fno-omit-frame-pointer)
  target_link_options(vkattn_warnings INTERFACE -fsanitize=${VKATTN_SANITIZE})
endif()
