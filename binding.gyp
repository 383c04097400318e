{
  "targets": [
    {
      "target_name": "ucr_native",
      "sources": ["native/addon/addon.cc", "native/common/crc32c.c"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "cflags_c": ["-std=gnu11"],
      "cflags_cc": ["-std=gnu++17"]
    },
    {
      "target_name": "ucr-helper",
      "type": "executable",
      "sources": [
        "native/helper/main.c",
        "native/helper/proto.c",
        "native/helper/tracee.c",
        "native/helper/pages.c",
        "native/helper/pages_restore.c",
        "native/helper/restore_uffd.c",
        "native/helper/pipeline.c",
        "native/helper/batch.c",
        "native/helper/dump.c",
        "native/helper/dump_pipe.c",
        "native/helper/dump_object.c",
        "native/helper/dump_tty.c",
        "native/helper/dump_unix.c",
        "native/helper/dump_inet.c",
        "native/helper/tcp_lock.c",
        "native/helper/dump_state.c",
        "native/helper/dump_ipc.c",
        "native/helper/plan.c",
        "native/helper/plan_files.c",
        "native/helper/plan_ipc.c",
        "native/helper/plan_unix.c",
        "native/helper/plan_inet.c",
        "native/helper/restore.c",
        "native/helper/restore_files.c",
        "native/helper/restore_ipc.c",
        "native/helper/restore_tree.c",
        "native/helper/restore_tty.c",
        "native/helper/restore_unix.c",
        "native/helper/restore_inet.c",
        "native/helper/restore_inet_peer.c",
        "native/helper/restore_child.c",
        "native/helper/restore_task.c",
        "native/helper/restore_map.c",
        "native/helper/restore_state.c",
        "native/helper/tracers.c",
        "native/helper/fault.c",
        "native/common/crc32c.c"
      ],
      "cflags": ["-O2", "-g", "-Wall", "-Wextra", "-Wno-missing-field-initializers"],
      "cflags_c": ["-std=gnu11"],
      "libraries": ["-llz4"]
    }
  ]
}
