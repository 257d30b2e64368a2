// trustml/nn.hpp: the module tree, layers and model zoo.
#pragma once

#include "trustml/nn/attention.hpp"
#include "trustml/nn/init.hpp"
#include "trustml/nn/layers.hpp"
#include "trustml/nn/module.hpp"
#include "trustml/nn/norm.hpp"
#include "trustml/nn/zoo/bert.hpp"
#include "trustml/nn/zoo/classifiers.hpp"
#include "trustml/nn/zoo/didn.hpp"
#include "trustml/nn/zoo/dncnn.hpp"
#include "trustml/nn/zoo/resnet.hpp"
#include "trustml/nn/zoo/unet.hpp"
