# trustml_fftw.cmake: finds FFTW in double and single precision (the CPU FFT of ops/fft.hpp) and
# defines the imported target trustml::fftw, or sets TRUSTML_FFTW_FOUND to FALSE. The build and
# the installed trustmlConfig.cmake both include it, so consumers link the FFTW of their machine.
if(TARGET trustml::fftw)
  set(TRUSTML_FFTW_FOUND TRUE)
  return()
endif()

find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(TRUSTML_FFTW_PC QUIET IMPORTED_TARGET fftw3 fftw3f)
endif()
if(TARGET PkgConfig::TRUSTML_FFTW_PC)
  add_library(trustml::fftw INTERFACE IMPORTED)
  target_link_libraries(trustml::fftw INTERFACE PkgConfig::TRUSTML_FFTW_PC)
else()
  # No pkg-config files (custom builds, some distributions): look for the header and libraries.
  find_path(TRUSTML_FFTW_INCLUDE_DIR fftw3.h)
  find_library(TRUSTML_FFTW_LIBRARY fftw3)
  find_library(TRUSTML_FFTWF_LIBRARY fftw3f)
  if(TRUSTML_FFTW_INCLUDE_DIR AND TRUSTML_FFTW_LIBRARY AND TRUSTML_FFTWF_LIBRARY)
    add_library(trustml::fftw INTERFACE IMPORTED)
    target_include_directories(trustml::fftw INTERFACE ${TRUSTML_FFTW_INCLUDE_DIR})
    target_link_libraries(trustml::fftw INTERFACE ${TRUSTML_FFTW_LIBRARY} ${TRUSTML_FFTWF_LIBRARY})
  endif()
endif()

if(TARGET trustml::fftw)
  set(TRUSTML_FFTW_FOUND TRUE)
else()
  set(TRUSTML_FFTW_FOUND FALSE)
endif()
set(TRUSTML_FFTW_MESSAGE "trustml needs FFTW 3 (fftw3 and fftw3f) for its CPU FFT; on Debian or Ubuntu run: \
apt-get install libfftw3-dev (or set CMAKE_PREFIX_PATH to an FFTW install)")
