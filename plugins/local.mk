# plugins: see the files beside this fragment.
vigiaincludedir = $(includedir)/vigia
vigiainclude_HEADERS = plugins/include/vigia/backend.h
pkgconfig_DATA = plugins/vigia-backend.pc
include plugins/sdk.mk
