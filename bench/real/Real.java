// A real runtime for the bench's `real` group (scripts/bench.mjs): a JVM with 8 worker threads,
// 16 MiB of data and a listening socket on loopback; on SIGTERM (a shutdown hook) it checks its
// data and its socket and writes PASS (or why not) to --out. Ready: --out.ready exists.
import java.io.*;
import java.net.*;
import java.nio.file.*;
import java.security.MessageDigest;
import java.util.*;

public class Real {
  public static void main(String[] args) throws Exception {
    String out = args[Arrays.asList(args).indexOf("--out") + 1];
    byte[] data = new byte[16 << 20];
    new Random(42).nextBytes(data);
    byte[] digest = MessageDigest.getInstance("SHA-256").digest(data);
    ServerSocket srv = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
    for (int i = 0; i < 8; i++) {
      Thread t = new Thread(() -> { while (true) { try { Thread.sleep(50); } catch (InterruptedException e) { return; } } });
      t.setDaemon(true);
      t.start();
    }
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      List<String> why = new ArrayList<>();
      try {
        if (!Arrays.equals(MessageDigest.getInstance("SHA-256").digest(data), digest)) why.add("data changed");
        try (Socket c = new Socket(InetAddress.getLoopbackAddress(), srv.getLocalPort()); Socket a = srv.accept()) {
        }
      } catch (Exception e) {
        why.add(e.toString());
      }
      try {
        Files.write(Paths.get(out), ((why.isEmpty() ? "PASS" : "FAIL " + String.join(", ", why)) + "\n").getBytes());
      } catch (IOException e) {
      }
    }));
    Files.write(Paths.get(out + ".ready"), new byte[0]);
    while (true) Thread.sleep(100);
  }
}
