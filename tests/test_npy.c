/* Tests for src/core/npy.c: round trips, the exact header NumPy writes, and
 * refusal of files we cannot read, with messages naming path and field. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pathflow/pathflow.h> /* the public .npy functions come with it */

static void write_bytes(const char *path, const void *bytes, size_t n)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(bytes, 1, n, f), n);
    fclose(f);
}

/* A .npy file with the given header dict and n doubles 0, 1, 2, ... */
static void write_npy_by_hand(const char *path, int major, const char *dict, size_t n)
{
    size_t prelude = major == 1 ? 10 : 12;
    size_t total = (prelude + strlen(dict) + 1 + 63) / 64 * 64;
    size_t header_len = total - prelude;
    unsigned char *buf = calloc(total + n * sizeof(double), 1);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    buf[8] = header_len & 0xff;
    buf[9] = (header_len >> 8) & 0xff;
    memset(buf + prelude, ' ', header_len);
    memcpy(buf + prelude, dict, strlen(dict));
    buf[total - 1] = '\n';
    for (size_t i = 0; i < n; i++) {
        double v = (double)i;
        memcpy(buf + total + i * sizeof v, &v, sizeof v);
    }
    write_bytes(path, buf, total + n * sizeof(double));
    free(buf);
}

Test(npy, round_trip_preserves_shape_and_every_bit)
{
    const size_t shapes[3][3] = {{5, 0, 0}, {3, 4, 0}, {2, 3, 2}};
    for (int ndim = 1; ndim <= 3; ndim++) {
        double data[24];
        for (int i = 0; i < 24; i++)
            data[i] = (i - 7.25) * 1e-300 * (i % 3 ? 1e300 : 1.0) / 3.0;
        cr_assert_eq(pf_npy_write("round.npy", ndim, shapes[ndim - 1], data), PF_OK, "%s",
                     pf_last_error());
        int got_ndim;
        size_t shape[PF_NPY_MAX_DIMS];
        double *back;
        cr_assert_eq(pf_npy_read("round.npy", &got_ndim, shape, &back), PF_OK, "%s",
                     pf_last_error());
        cr_assert_eq(got_ndim, ndim);
        size_t n = 1;
        for (int i = 0; i < ndim; i++) {
            cr_assert_eq(shape[i], shapes[ndim - 1][i]);
            n *= shape[i];
        }
        cr_assert(memcmp(back, data, n * sizeof *data) == 0);
        free(back);
    }
    remove("round.npy");
}

Test(npy, header_is_what_numpy_writes_and_data_is_64_byte_aligned)
{
    double data[6] = {1, 2, 3, 4, 5, 6};
    size_t shape[2] = {2, 3};
    cr_assert_eq(pf_npy_write("hdr.npy", 2, shape, data), PF_OK);
    FILE *f = fopen("hdr.npy", "rb");
    unsigned char buf[128 + 48];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    cr_assert_eq(n, 128 + 48, "file is %zu bytes", n);
    size_t header_len = buf[8] | (size_t)buf[9] << 8;
    cr_assert_eq((10 + header_len) % 64, 0);
    const char *dict = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }";
    cr_assert(memcmp(buf + 10, dict, strlen(dict)) == 0);
    cr_assert_eq(buf[10 + header_len - 1], '\n');
    remove("hdr.npy");
}

Test(npy, one_dimensional_shape_is_written_as_a_one_tuple)
{
    double data[3] = {1, 2, 3};
    size_t shape[1] = {3};
    cr_assert_eq(pf_npy_write("one.npy", 1, shape, data), PF_OK);
    FILE *f = fopen("one.npy", "rb");
    char buf[160];
    cr_assert_eq(fread(buf, 1, sizeof buf, f), 128 + 24, "header + 3 doubles");
    fclose(f);
    buf[127] = '\0';
    cr_assert_not_null(strstr(buf + 10, "'shape': (3,), }"), "header: %s", buf + 10);
    remove("one.npy");
}

Test(npy, version_2_headers_are_read)
{
    write_npy_by_hand("v2.npy", 2, "{'descr': '<f8', 'fortran_order': False, 'shape': (4, 2), }", 8);
    int ndim;
    size_t shape[PF_NPY_MAX_DIMS];
    double *data;
    cr_assert_eq(pf_npy_read("v2.npy", &ndim, shape, &data), PF_OK, "%s", pf_last_error());
    cr_assert_eq(ndim, 2);
    cr_assert_eq(shape[0], 4);
    cr_assert_eq(shape[1], 2);
    cr_assert_eq(data[7], 7.0);
    free(data);
    remove("v2.npy");
}

static void expect_refusal(const char *path, pf_status expected, const char *needle)
{
    int ndim;
    size_t shape[PF_NPY_MAX_DIMS];
    double *data = (double *)1;
    pf_status s = pf_npy_read(path, &ndim, shape, &data);
    cr_assert_eq(s, expected, "%s: status %d, message: %s", path, s, pf_last_error());
    cr_assert_null(data);
    cr_assert_not_null(strstr(pf_last_error(), path), "message '%s' lacks the path",
                       pf_last_error());
    cr_assert_not_null(strstr(pf_last_error(), needle), "message '%s' lacks '%s'",
                       pf_last_error(), needle);
}

Test(npy, float32_fortran_order_truncated_and_missing_files_are_refused_with_reasons)
{
    write_npy_by_hand("f4.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 1);
    expect_refusal("f4.npy", PF_ERR_FORMAT, "descr");
    write_npy_by_hand("fo.npy", 1, "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }", 4);
    expect_refusal("fo.npy", PF_ERR_FORMAT, "fortran_order");
    write_npy_by_hand("short.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (5, 3), }", 14);
    expect_refusal("short.npy", PF_ERR_FORMAT, "expected 15");
    write_bytes("junk.npy", "hello world, not numpy", 22);
    expect_refusal("junk.npy", PF_ERR_FORMAT, "magic");
    expect_refusal("does-not-exist.npy", PF_ERR_IO, "cannot open");
    remove("f4.npy");
    remove("fo.npy");
    remove("short.npy");
    remove("junk.npy");
}

Test(npy, write_into_a_missing_directory_fails_with_the_path)
{
    double x = 1;
    size_t shape[1] = {1};
    pf_status s = pf_npy_write("no/such/dir/x.npy", 1, shape, &x);
    cr_assert_eq(s, PF_ERR_IO);
    cr_assert_not_null(strstr(pf_last_error(), "no/such/dir/x.npy"), "%s", pf_last_error());
}

Test(npy, a_header_asking_for_more_data_than_the_file_holds_is_refused_before_allocating)
{
    /* found by fuzzing: the shape used to be trusted and malloc'ed */
    write_npy_by_hand("huge.npy", 1,
                      "{'descr': '<f8', 'fortran_order': False, 'shape': (4444444444444444444, 4), }", 2);
    expect_refusal("huge.npy", PF_ERR_FORMAT, "shape");
    write_npy_by_hand("big.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000,), }", 2);
    expect_refusal("big.npy", PF_ERR_FORMAT, "expected 1000000000 values");
    remove("huge.npy");
    remove("big.npy");
}

Test(npy, big_endian_and_unknown_versions_are_refused)
{
    write_npy_by_hand("be.npy", 1, "{'descr': '>f8', 'fortran_order': False, 'shape': (2,), }", 2);
    expect_refusal("be.npy", PF_ERR_FORMAT, "descr");
    write_npy_by_hand("v9.npy", 9, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 2);
    expect_refusal("v9.npy", PF_ERR_FORMAT, "version");
    remove("be.npy");
    remove("v9.npy");
}

/* The writer and reader are public (<pathflow/npy.h>, also through the
 * umbrella header): a 3-D round trip, and the header an outside reader sees. */
Test(npy, public_header_round_trip_of_a_three_dimensional_array)
{
    double data[2 * 3 * 4];
    for (int i = 0; i < 24; i++)
        data[i] = 0.5 * i - 3.25;
    size_t shape[3] = {2, 3, 4}, got[PF_NPY_MAX_DIMS];
    cr_assert_eq(pf_npy_write("public_3d.npy", 3, shape, data), PF_OK, "%s", pf_last_error());
    int ndim;
    double *back;
    cr_assert_eq(pf_npy_read("public_3d.npy", &ndim, got, &back), PF_OK, "%s", pf_last_error());
    cr_assert(ndim == 3 && got[0] == 2 && got[1] == 3 && got[2] == 4);
    cr_assert(memcmp(back, data, sizeof data) == 0);
    free(back);
    FILE *f = fopen("public_3d.npy", "rb");
    char header[129] = {0};
    cr_assert_eq(fread(header, 1, 128, f), 128);
    fclose(f);
    cr_assert_not_null(strstr(header + 10, "'shape': (2, 3, 4)"), "%s", header + 10);
    cr_assert_eq(pf_npy_write("bad.npy", PF_NPY_MAX_DIMS + 1, got, data), PF_ERR_ARG);
}
