"""The ctypes mirrors of the public structures have the C compiler's layout
(sizes and field offsets as pf_reference prints them)."""
import pathflow._lib as L


def test_every_mirrored_structure_has_the_c_layout(reference):
    lines = reference("layout").split()
    checked = 0
    for struct, field, value in zip(lines[0::3], lines[1::3], lines[2::3]):
        mirror = L.STRUCTS[struct]
        got = (mirror.__dict__[field].offset if field != "sizeof"
               else __import__("ctypes").sizeof(mirror))
        assert got == int(value), f"{struct}.{field}: ctypes {got}, C {value}"
        checked += 1
    assert checked >= 40
