# trustml_text.cmake: the target trustml::text (include/trustml/text: the BERT WordPiece tokenizer),
# trustml::data plus utf8proc, the Unicode library that supplies decompositions, categories and
# case. utf8proc is found as the imported target trustml::utf8proc (pkg-config's libutf8proc, else
# its header and library), which the installed trustmlConfig.cmake defines the same way by
# including this file with TRUSTML_TEXT_FIND_ONLY set. Sets TRUSTML_TEXT_FOUND; without utf8proc
# (or without trustml::data) there is no trustml::text, and a STATUS message says what to install.
if(NOT TARGET trustml::utf8proc)
  find_package(PkgConfig QUIET)
  if(PKG_CONFIG_FOUND)
    pkg_check_modules(TRUSTML_UTF8PROC_PC QUIET IMPORTED_TARGET libutf8proc)
  endif()
  if(TARGET PkgConfig::TRUSTML_UTF8PROC_PC)
    add_library(trustml::utf8proc INTERFACE IMPORTED)
    target_link_libraries(trustml::utf8proc INTERFACE PkgConfig::TRUSTML_UTF8PROC_PC)
  else()
    find_path(TRUSTML_UTF8PROC_INCLUDE_DIR NAMES utf8proc.h)
    find_library(TRUSTML_UTF8PROC_LIBRARY NAMES utf8proc)
    if(TRUSTML_UTF8PROC_INCLUDE_DIR AND TRUSTML_UTF8PROC_LIBRARY)
      add_library(trustml::utf8proc INTERFACE IMPORTED)
      target_include_directories(trustml::utf8proc INTERFACE ${TRUSTML_UTF8PROC_INCLUDE_DIR})
      target_link_libraries(trustml::utf8proc INTERFACE ${TRUSTML_UTF8PROC_LIBRARY})
    endif()
  endif()
endif()

set(TRUSTML_TEXT_FOUND FALSE)
if(TARGET trustml::utf8proc)
  set(TRUSTML_TEXT_FOUND TRUE)
endif()
if(TRUSTML_TEXT_FIND_ONLY)  # the installed package: trustmlTargets.cmake defines trustml::text
  return()
endif()

if(NOT TRUSTML_TEXT_FOUND)
  message(STATUS "trustml: utf8proc not found (apt-get install libutf8proc-dev): no trustml::text")
elseif(NOT TARGET trustml::data)
  set(TRUSTML_TEXT_FOUND FALSE)
  message(STATUS "trustml: trustml::text needs trustml::data (configure with -DTRUSTML_DATA=ON): no trustml::text")
else()
  add_library(trustml_text INTERFACE)
  add_library(trustml::text ALIAS trustml_text)
  set_target_properties(trustml_text PROPERTIES EXPORT_NAME text)
  target_link_libraries(trustml_text INTERFACE trustml::data trustml::utf8proc)
  install(TARGETS trustml_text EXPORT trustmlTargets)
  install(FILES ${CMAKE_CURRENT_LIST_DIR}/trustml_text.cmake DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/trustml)
endif()
