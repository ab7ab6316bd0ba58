# Install rules: the library (libvkattn.so.<major.minor> with its links, or libvkattn.a with
# BUILD_SHARED_LIBS=OFF; the SPIR-V is embedded in it), the public headers, the CMake package
# (find_package(vkattn) gives vkattn::vkattn, C++20 as a usage requirement, Vulkan found through
# find_dependency) and vkattn.pc for pkg-config.
include(CMakePackageConfigHelpers)

set(VKATTN_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/vkattn)

# Two export sets: vkattnTargets (the core library, MPI-free) and vkattnRingTargets (vkattn_ring,
# which needs MPI for C++), so that vkattnConfig.cmake can load the second only where asked for or
# where MPI is there: a C project, or one without MPI, finds the core package.
set(VKATTN_INSTALL_DIRS LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
                        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS vkattn EXPORT vkattnTargets ${VKATTN_INSTALL_DIRS})
install(EXPORT vkattnTargets NAMESPACE vkattn:: DESTINATION ${VKATTN_CMAKE_DIR})
if(TARGET vkattn_ring)
  install(TARGETS vkattn_ring EXPORT vkattnRingTargets ${VKATTN_INSTALL_DIRS})
  install(EXPORT vkattnRingTargets NAMESPACE vkattn:: DESTINATION ${VKATTN_CMAKE_DIR})
  set(VKATTN_PACKAGE_HAS_RING ON)
else()
  set(VKATTN_PACKAGE_HAS_RING OFF)
endif()
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/vkattn DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/vkattnConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/vkattnConfig.cmake INSTALL_DESTINATION ${VKATTN_CMAKE_DIR})
# 0.x: a minor version may break the API, so only the same major.minor is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/vkattnConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/vkattnConfig.cmake ${PROJECT_BINARY_DIR}/vkattnConfigVersion.cmake
        DESTINATION ${VKATTN_CMAKE_DIR})

# pkg-config: a static libvkattn also needs the C++ runtime and threads of its users' link.
if(BUILD_SHARED_LIBS)
  set(VKATTN_PC_LIBS_PRIVATE "")
else()
  set(VKATTN_PC_LIBS_PRIVATE "-lstdc++ -lpthread")
endif()
# Relocatable: the prefix is found from where the .pc file lies (cmake --install --prefix works).
file(RELATIVE_PATH VKATTN_PC_TO_PREFIX "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
configure_file(${PROJECT_SOURCE_DIR}/cmake/vkattn.pc.in ${PROJECT_BINARY_DIR}/vkattn.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/vkattn.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
