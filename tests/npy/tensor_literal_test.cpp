// Tensors written as text (runtime/tensor_literal.h), as weft-run's --input NAME=LITERAL reads them.
#include "runtime/tensor_literal.h"

#include <gtest/gtest.h>

#include <cmath>

#include "ir/error.h"

namespace weft {
namespace {

std::string error_of(std::string_view text, DType dtype) {
  try {
    parse_tensor_literal(text, dtype, "--input x");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(TensorLiteral, NestedListsGiveTheShapeAndTheDeclarationTheDtype) {
  Tensor t = parse_tensor_literal(" [[1, 2, 3],\n [4, 5, 6]] ", DType::f32, "x");
  EXPECT_EQ(t.type_str(), "f32[2, 3]");
  EXPECT_EQ(t.to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(parse_tensor_literal("[[[7]], [[-8]]]", DType::i64, "x").type_str(), "i64[2, 1, 1]");
  EXPECT_EQ(parse_tensor_literal("[[[7]], [[-8]]]", DType::i64, "x").to_vector<int64_t>(),
            (std::vector<int64_t>{7, -8}));
  Tensor scalar = parse_tensor_literal("3", DType::i32, "x");
  EXPECT_EQ(scalar.type_str(), "i32[]");
  EXPECT_EQ(scalar.to_vector<int32_t>(), std::vector<int32_t>{3});
  EXPECT_EQ(parse_tensor_literal("[]", DType::f64, "x").type_str(), "f64[0]");
  EXPECT_EQ(parse_tensor_literal("[[], []]", DType::f64, "x").type_str(), "f64[2, 0]");
  EXPECT_EQ(parse_tensor_literal("[true, 0, false, 1]", DType::boolean, "x").to_vector<bool>(),
            (std::vector<bool>{true, false, false, true}));
  Tensor specials = parse_tensor_literal("[inf, -inf, nan, 1e-3]", DType::f64, "x");
  std::vector<double> v = specials.to_vector<double>();
  EXPECT_TRUE(std::isinf(v[0]) && v[0] > 0);
  EXPECT_TRUE(std::isinf(v[1]) && v[1] < 0);
  EXPECT_TRUE(std::isnan(v[2]));
  EXPECT_EQ(v[3], 1e-3);
}

TEST(TensorLiteral, MistakesNameTheProblemAndTheColumn) {
  EXPECT_EQ(error_of("[[1, 2], [3]]", DType::f32),
            "--input x: not a tensor literal: rows of different lengths: this list has 1 element, an earlier one 2 "
            "(at column 10 of '[[1, 2], [3]]')");
  EXPECT_EQ(error_of("[[1], 2]", DType::f32),
            "--input x: not a tensor literal: a value at depth 1 where an earlier one is at depth 2 (at column 7 of "
            "'[[1], 2]')");
  EXPECT_EQ(error_of("[1, 2", DType::f32),
            "--input x: not a tensor literal: the list opened here is not closed (at column 1 of '[1, 2')");
  EXPECT_EQ(error_of("[1 2]", DType::f32),
            "--input x: not a tensor literal: expected ',' or ']' but got '2' (at column 4 of '[1 2]')");
  EXPECT_EQ(error_of("[1.5]", DType::i64),
            "--input x: not a tensor literal: '1.5' is not an integer (the input is i64) (at column 2 of '[1.5]')");
  EXPECT_EQ(error_of("[3000000000]", DType::i32),
            "--input x: not a tensor literal: 3000000000 does not fit in i32 (at column 2 of '[3000000000]')");
  EXPECT_EQ(error_of("[2]", DType::boolean),
            "--input x: not a tensor literal: '2' is not a bool (true, false, 1 or 0) (at column 2 of '[2]')");
  EXPECT_EQ(error_of("[x]", DType::f32), "--input x: not a tensor literal: 'x' is not a number (at column 2 of '[x]')");
  EXPECT_EQ(error_of("[1]]", DType::f32),
            "--input x: not a tensor literal: unexpected ']' after the value (at column 4 of '[1]]')");
  EXPECT_NE(error_of(std::string(100, '[') + std::string(100, ']'), DType::f32).find("nested more than 64 deep"),
            std::string::npos);
}

TEST(TensorLiteral, TellsALiteralFromAFileName) {
  for (const char* literal : {"[1]", "3", "-2.5", "1e3", "true", "false"})
    EXPECT_TRUE(looks_like_tensor_literal(literal)) << literal;
  for (const char* file : {"x.npy", "./3", "", "data/1.npy", "true.npy"})
    EXPECT_FALSE(looks_like_tensor_literal(file)) << file;
}

}  // namespace
}  // namespace weft
