// trustml/mri.hpp: the MRI reconstruction module: the SENSE operator, masks, phantoms, metrics,
// unrolled networks (MoDL and the SMUG family), their losses and the reconstruction PGD. BART
// .cfl/.hdr files are in trustml/io/cfl.hpp, fastMRI HDF5 files in trustml/io/fastmri_h5.hpp.
#pragma once

#include "trustml/mri/attack.hpp"
#include "trustml/mri/losses.hpp"
#include "trustml/mri/masks.hpp"
#include "trustml/mri/metrics.hpp"
#include "trustml/mri/phantom.hpp"
#include "trustml/mri/sense.hpp"
#include "trustml/mri/unrolled.hpp"
