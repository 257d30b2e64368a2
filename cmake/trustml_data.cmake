# trustml_data.cmake: the dependencies of the target trustml::data (data sets, files, pictures):
# zlib (gzipped IDX files, include/trustml/data), nlohmann-json (safetensors headers,
# include/trustml/io) and the stb library (PNG files, include/trustml/util/image.hpp), as the
# imported target trustml::stb. Debian ships stb compiled (libstb.so) with a pkg-config file, so
# trustml never compiles stb itself. Used by the top-level CMakeLists.txt when TRUSTML_DATA is on
# and by the installed trustmlConfig.cmake; sets TRUSTML_DATA_FOUND and TRUSTML_DATA_MESSAGE.
find_package(ZLIB)
find_package(nlohmann_json 3)
if(NOT TARGET trustml::stb)
  find_package(PkgConfig QUIET)
  if(PKG_CONFIG_FOUND)
    pkg_check_modules(TRUSTML_STB_PC QUIET IMPORTED_TARGET stb)
  endif()
  if(TARGET PkgConfig::TRUSTML_STB_PC)
    add_library(trustml::stb INTERFACE IMPORTED)
    target_link_libraries(trustml::stb INTERFACE PkgConfig::TRUSTML_STB_PC)
  else()
    # No pkg-config file: look for the header (as <stb/...> or at the top level) and the library.
    find_path(TRUSTML_STB_INCLUDE_DIR NAMES stb/stb_image_write.h stb_image_write.h)
    find_library(TRUSTML_STB_LIBRARY stb)
    if(TRUSTML_STB_INCLUDE_DIR AND TRUSTML_STB_LIBRARY)
      add_library(trustml::stb INTERFACE IMPORTED)
      target_include_directories(trustml::stb INTERFACE ${TRUSTML_STB_INCLUDE_DIR})
      target_link_libraries(trustml::stb INTERFACE ${TRUSTML_STB_LIBRARY})
    endif()
  endif()
endif()

set(TRUSTML_DATA_FOUND TRUE)
if(NOT ZLIB_FOUND OR NOT nlohmann_json_FOUND OR NOT TARGET trustml::stb)
  set(TRUSTML_DATA_FOUND FALSE)
  set(TRUSTML_DATA_MESSAGE "trustml::data needs zlib, nlohmann-json and the compiled stb library; on Debian or "
                           "Ubuntu run: apt-get install zlib1g-dev nlohmann-json3-dev libstb-dev (or configure with "
                           "-DTRUSTML_DATA=OFF)")
endif()
