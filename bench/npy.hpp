// Reading and writing NumPy .npy files (format versions 1.0 to 3.0): little-endian fp32, fp16
// and int32 arrays in C order, which is what vkattn-run exchanges with other frameworks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "vkattn/dtype.hpp"
#include "vkattn/status.hpp"

namespace vkattn::npy {

struct Array {
  DType dtype = DType::kF32;        // '<f4', '<f2' or '<i4'
  std::vector<std::int64_t> shape;  // C order
  std::vector<std::byte> data;      // numel * element size, little-endian
  std::int64_t numel() const;
  // Values as float (fp16 widened, int32 converted).
  std::vector<float> to_float() const;
};

// Parses a whole file's bytes. Errors name the file (`what`) and the problem: wrong magic,
// unsupported version or dtype, Fortran order, a malformed header, or data shorter than the shape.
Result<Array> parse(const std::vector<std::byte>& bytes, const std::string& what);
Result<Array> load(const std::string& path);

// The bytes of a version 1.0 file (header padded so the data starts on a 64-byte boundary).
std::vector<std::byte> serialize(const Array& a);
// Writes `a` to `path` (through a temporary file and a rename, so a failed write leaves nothing).
Status save(const std::string& path, const Array& a);

// "(2, 3, 4)": a shape as messages print it.
std::string shape_text(const std::vector<std::int64_t>& shape);

// An fp32 array of `shape` from float values.
Array from_floats(const std::vector<float>& values, std::vector<std::int64_t> shape);

}  // namespace vkattn::npy
