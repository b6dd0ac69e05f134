/** \file
 * The layer library in one include: `#include "frontend/nn/nn.h"`, then `weft::nn::Linear`, ...
 * docs/layers.md lists every layer with its parameters and PyTorch counterpart.
 */
#pragma once

#include "frontend/nn/attention.h"
#include "frontend/nn/basic.h"
#include "frontend/nn/common.h"
#include "frontend/nn/embedding.h"
#include "frontend/nn/load_torch.h"
#include "frontend/nn/recurrent.h"
#include "frontend/nn/seq2seq.h"
#include "frontend/nn/transformer.h"
#include "ir/init.h"  // initializers for the layers' options (normal_init, linear_weight_init, ...)
