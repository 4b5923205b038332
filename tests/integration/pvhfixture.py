"""tests/integration/pvhfixture.py - builds tiny PVH ELF payloads for VMM tests.

Each payload is a few hand-assembled 32-bit instructions entered through the PVH
entry point (protected mode, paging off): it checks the hvm_start_info magic in
EBX, prints a message on COM1, then does one action: poweroff (ACPI S5 on port
0x604), reboot (0xCF9), panic (pvpanic 0x505), triplefault, echo (copies serial
input back to output until it reads 'q', then powers off) or halt (sleeps forever).
"""
import struct

LOAD = 0x100000


def _code(action, msg):
    c = bytearray()
    # cmp dword [ebx], 0x336ec578 ; jne bad
    c += b"\x81\x3b" + struct.pack("<I", 0x336EC578)
    jne_at = len(c)
    c += b"\x0f\x85\x00\x00\x00\x00"
    c += b"\x66\xba\xf8\x03"                   # mov dx, 0x3f8
    c += b"\xbe" + b"MSG!"                      # mov esi, msg (patched)
    msg_fix = len(c) - 4
    loop = len(c)
    c += b"\xac"                                # lodsb
    c += b"\x84\xc0"                            # test al, al
    c += b"\x74\x03"                            # jz +3
    c += b"\xee"                                # out dx, al
    c += b"\xeb" + struct.pack("<b", loop - (len(c) + 2))  # jmp loop
    def poweroff():
        return b"\x66\xba\x04\x06" + b"\x66\xb8\x00\x34" + b"\x66\xef"  # out 0x604, 0x3400
    if action == "poweroff":
        c += poweroff()
    elif action == "reboot":
        c += b"\x66\xba\xf9\x0c" + b"\xb0\x06" + b"\xee"          # out 0xcf9, 6
    elif action == "panic":
        c += b"\x66\xba\x05\x05" + b"\xb0\x01" + b"\xee"          # out 0x505, 1
    elif action == "triplefault":
        # lidt [zero descriptor]; ud2 -> #UD -> #DF -> shutdown
        c += b"\x0f\x01\x1d" + b"IDT!"
        idt_fix = len(c) - 4
        c += b"\x0f\x0b"                        # ud2
    elif action == "echo":
        top = len(c)
        c += b"\x66\xba\xfd\x03"                # mov dx, 0x3fd (LSR)
        c += b"\xec"                            # in al, dx
        c += b"\xa8\x01"                        # test al, 1
        c += b"\x74" + struct.pack("<b", top - (len(c) + 2))   # jz top
        c += b"\x66\xba\xf8\x03"                # mov dx, 0x3f8
        c += b"\xec"                            # in al, dx
        c += b"\x3c\x71"                        # cmp al, 'q'
        c += b"\x74\x03"                        # je +3 (to poweroff)
        c += b"\xee"                            # out dx, al
        c += b"\xeb" + struct.pack("<b", top - (len(c) + 2))   # jmp top
        c += poweroff()
    # halt forever (also the end of every other action, in case it returns)
    c += b"\xfa\xf4\xeb\xfd"                    # cli; hlt; jmp hlt
    bad = len(c)
    c += b"\xfa\xf4\xeb\xfd"                    # bad magic: hang without output
    struct.pack_into("<i", c, jne_at + 2, bad - (jne_at + 6))
    m = len(c)
    c += msg.encode() + b"\0"
    struct.pack_into("<I", c, msg_fix, LOAD + m)
    if action == "triplefault":
        while len(c) % 8:
            c += b"\0"
        d = len(c)
        c += b"\0" * 8
        struct.pack_into("<I", c, idt_fix, LOAD + d)
    return bytes(c)


def make_pvh(path, action="poweroff", msg="PVH-OK\n"):
    code = _code(action, msg)
    note = struct.pack("<III", 4, 4, 18) + b"Xen\0" + struct.pack("<I", LOAD)
    ehsize, phsize = 52, 32
    note_off = ehsize + 2 * phsize
    code_off = 0x100
    eh = struct.pack("<16sHHIIIIIHHHHHH", b"\x7fELF\x01\x01\x01" + b"\0" * 9, 2, 3, 1,
                     LOAD, ehsize, 0, 0, ehsize, phsize, 2, 0, 0, 0)
    ph_load = struct.pack("<IIIIIIII", 1, code_off, LOAD, LOAD, len(code), len(code), 7, 0x1000)
    ph_note = struct.pack("<IIIIIIII", 4, note_off, 0, 0, len(note), len(note), 4, 4)
    img = bytearray(eh + ph_load + ph_note + note)
    img += b"\0" * (code_off - len(img))
    img += code
    with open(path, "wb") as f:
        f.write(img)
    return path


if __name__ == "__main__":
    import sys
    make_pvh(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "poweroff")


def make_bzimage(path):
    """A synthetic bzImage (boot protocol 2.15, 64-bit entry) whose "kernel" is a few
    instructions of 64-bit code: it checks boot_params (RSI) for the HdrS header, prints the
    command line found through cmd_line_ptr on COM1, then powers off through port 0x604."""
    c = bytearray()
    c += b"\x8b\x86\x02\x02\x00\x00"             # mov eax, [rsi+0x202]
    c += b"\x3d" + struct.pack("<I", 0x53726448)  # cmp eax, "HdrS"
    jne_at = len(c)
    c += b"\x0f\x85\x00\x00\x00\x00"             # jne bad
    c += b"\x8b\xb6\x28\x02\x00\x00"             # mov esi, [rsi+0x228] (cmd_line_ptr)
    c += b"\x66\xba\xf8\x03"                     # mov dx, 0x3f8
    loop = len(c)
    c += b"\xac\x84\xc0\x74\x03\xee"             # lodsb; test al,al; jz +3; out dx,al
    c += b"\xeb" + struct.pack("<b", loop - (len(c) + 2))
    c += b"\xb0\x0a\xee"                         # mov al, 10; out dx, al
    c += b"\x66\xba\x04\x06\x66\xb8\x00\x34\x66\xef"  # out 0x604, 0x3400 (S5)
    c += b"\xf4\xeb\xfd"                         # hlt loop
    bad = len(c)
    c += b"\xf4\xeb\xfd"
    struct.pack_into("<i", c, jne_at + 2, bad - (jne_at + 6))
    setup = bytearray(1024)                      # setup_sects = 1: two sectors
    setup[0x1f1] = 1
    struct.pack_into("<H", setup, 0x1fe, 0xAA55)
    setup[0x200:0x202] = b"\xeb\x66"
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, 0x020F)
    setup[0x211] = 0x01                          # LOADED_HIGH
    struct.pack_into("<I", setup, 0x22C, 0x7FFFFFFF)   # initrd_addr_max
    setup[0x234] = 1                             # relocatable
    struct.pack_into("<H", setup, 0x236, 0x01)   # XLF_KERNEL_64
    struct.pack_into("<I", setup, 0x238, 2047)   # cmdline_size
    struct.pack_into("<Q", setup, 0x258, 0x1000000)    # pref_address 16 MiB
    struct.pack_into("<I", setup, 0x260, 0x100000)     # init_size 1 MiB
    kernel = bytearray(0x200) + c                # 64-bit entry at load + 0x200
    with open(path, "wb") as f:
        f.write(setup + kernel)
    return path
